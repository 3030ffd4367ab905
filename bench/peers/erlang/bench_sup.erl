%% one_for_one supervisor with one permanent crasher child (bench_worker {crasher, Driver}).
%% Intensity is given by the benchmark (restarts per batch + margin) within 60 s, as in the
%% Telex counterpart (the restarts of bench/local.ts): neither gives up during a batch.
-module(bench_sup).
-behaviour(supervisor).

-export([init/1]).

init({Intensity, Driver}) ->
    Flags = #{strategy => one_for_one, intensity => Intensity, period => 60},
    Child = #{id => crasher,
              start => {bench_worker, start_link, [{crasher, Driver}]},
              restart => permanent,
              shutdown => 5000,
              type => worker},
    {ok, {Flags, [Child]}}.
