%% Erlang/OTP counterparts of Telex's `npm run bench` groups `remote` and `local`
%% (bench/remote.ts, bench/local.ts), plus supervisor restarts. Same counts, slices, warm-up
%% and message shapes as the Telex benchmark; each entry point prints one line
%% `RESULT {json}` and halts.
%%
%% Run by bench/peers.ts (`BENCH_GROUPS=peers npm run bench`), which compiles these modules:
%%   erl -noshell -name send@127.0.0.1 ... -run bench_erl remote recv@127.0.0.1
%%   erl -noshell ... -run bench_erl local default
%%
%% Sizes from the environment, with Telex's names and defaults:
%%   BENCH_REMOTE_TELL_N 300000, BENCH_REMOTE_ASK_N 20000, BENCH_REMOTE_PIPELINED_N 100000,
%%   BENCH_REMOTE_BULK_N 4096, BENCH_TELL_N 2000000, BENCH_ASK_N 20000, BENCH_SPAWN_N 100000,
%%   BENCH_SUP_RESTARTS 10000 (in batches of BENCH_SUP_BATCH 1000, one supervisor each).
-module(bench_erl).

-export([remote/1, local/1]).

-define(NOTE, <<"remote tell benchmark payload, sixty characters of padding..">>).
-define(PING_NOTE, <<"ping-pong request, 32 characters">>).
-define(ACCOUNT, <<"acct-1234">>).
-define(AMOUNT, 125.5).
-define(BULK_BYTES, 65536).
-define(IN_FLIGHT, 64).
-define(SLICES_REMOTE, 2).
-define(SLICES_LOCAL, 4).

now_ns() -> erlang:monotonic_time(nanosecond).

env_int(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        S -> list_to_integer(S)
    end.

ceil_div(A, B) -> (A + B - 1) div B.

%% ---------------------------------------------------------------------------
%% messages: the fields of Telex's Bench protocol (bench/remote-protocol.ts)
%% ---------------------------------------------------------------------------

tell_msg(Seq) ->
    #{'_tag' => 'Tell', seq => Seq, account => ?ACCOUNT, amount => ?AMOUNT, note => ?NOTE}.

ping_msg(Seq) -> #{'_tag' => 'Ping', seq => Seq, note => ?PING_NOTE}.

bulk_msg(Data) -> #{'_tag' => 'Bulk', data => Data}.

%% ---------------------------------------------------------------------------
%% remote: this node sends, {bench_target, Node} (another OS process) receives
%% ---------------------------------------------------------------------------

remote([NodeStr]) ->
    Node = list_to_atom(NodeStr),
    try
        ok = wait_up(Node, 300),
        Target = {bench_target, Node},
        Full = #{tell => env_int("BENCH_REMOTE_TELL_N", 300000),
                 asks => env_int("BENCH_REMOTE_ASK_N", 20000),
                 ask_warmup => 2000,
                 pipelined => env_int("BENCH_REMOTE_PIPELINED_N", 100000),
                 bulk => env_int("BENCH_REMOTE_BULK_N", 4096)},
        Warm = #{tell => ceil_div(maps:get(tell, Full), 5),
                 asks => ceil_div(maps:get(asks, Full), 10),
                 ask_warmup => 500,
                 pipelined => ceil_div(maps:get(pipelined, Full), 10),
                 bulk => ceil_div(maps:get(bulk, Full), 10)},
        _ = remote_round(Target, Warm),
        R = remote_round(Target, Full),
        Params = [{tellMessages, maps:get(tell, Full)}, {asks, maps:get(asks, Full)},
                  {pipelinedAsks, maps:get(pipelined, Full)}, {bulkMessages, maps:get(bulk, Full)},
                  {tellTermBytes, byte_size(term_to_binary(tell_msg(1)))},
                  {pingTermBytes, byte_size(term_to_binary(ping_msg(1)))},
                  {schedulers, erlang:system_info(schedulers_online)}],
        emit(R ++ Params)
    after
        %% stop the receiving node (the driver also waits for its OS pid)
        catch erpc:call(Node, init, stop, [], 5000)
    end,
    halt(0).

wait_up(_Node, 0) -> {error, timeout};
wait_up(Node, K) ->
    case net_adm:ping(Node) =:= pong andalso
         erpc:call(Node, erlang, whereis, [bench_target]) =/= undefined of
        true -> ok;
        false -> timer:sleep(100), wait_up(Node, K - 1)
    end.

remote_round(Target, #{tell := TellN, asks := AskN, ask_warmup := AskWarm,
                       pipelined := PipeN, bulk := BulkN}) ->
    TellPer = ceil_div(TellN, ?SLICES_REMOTE),
    TellNs = lists:sum([isolated(fun() -> remote_tell(Target, TellPer) end)
                        || _ <- lists:seq(1, ?SLICES_REMOTE)]),
    AskPer = ceil_div(AskN, ?SLICES_REMOTE),
    AskSlices = [isolated(fun() -> remote_ask(Target, AskWarm, AskPer) end)
                 || _ <- lists:seq(1, ?SLICES_REMOTE)],
    {AskP50, AskP99, AskPerSec} = latency_of(AskSlices),
    PipeNs = isolated(fun() -> pipelined(Target, PipeN, ?IN_FLIGHT) end),
    BulkPer = ceil_div(BulkN, ?SLICES_REMOTE),
    BulkNs = lists:sum([isolated(fun() -> remote_bulk(Target, BulkPer) end)
                        || _ <- lists:seq(1, ?SLICES_REMOTE)]),
    TellPerSec = TellPer * ?SLICES_REMOTE * 1.0e9 / TellNs,
    PipePerSec = PipeN * 1.0e9 / PipeNs,
    [{tellPerSec, TellPerSec},
     {askP50Micros, AskP50},
     {askP99Micros, AskP99},
     {askPerSec, AskPerSec},
     {pipelinedAskPerSec, PipePerSec},
     {pipelinedAskRatio, PipePerSec / TellPerSec},
     {bulkMBps, BulkPer * ?SLICES_REMOTE * ?BULK_BYTES * 1.0e3 / BulkNs}].

%% N casts, then a call as a barrier (FIFO between two processes): elapsed ns.
remote_tell(Target, N) ->
    Before = gen_server:call(Target, count, 120000),
    T0 = now_ns(),
    tell_loop(Target, 0, N),
    After = gen_server:call(Target, count, 120000),
    Elapsed = now_ns() - T0,
    N = After - Before,
    Elapsed.

tell_loop(_Target, N, N) -> ok;
tell_loop(Target, I, N) ->
    gen_server:cast(Target, tell_msg(I)),
    tell_loop(Target, I + 1, N).

%% One call in flight: {Samples (ns), TotalNs}.
remote_ask(Target, Warmup, N) ->
    [I = gen_server:call(Target, ping_msg(I)) || I <- lists:seq(1, Warmup)],
    Start = now_ns(),
    Samples = ask_loop(Target, 0, N, []),
    {Samples, now_ns() - Start}.

ask_loop(_Target, N, N, Acc) -> Acc;
ask_loop(Target, I, N, Acc) ->
    T0 = now_ns(),
    I = gen_server:call(Target, ping_msg(I)),
    ask_loop(Target, I + 1, N, [now_ns() - T0 | Acc]).

%% InFlight processes calling in a loop: elapsed ns scaled to N asks.
pipelined(Target, N, InFlight) ->
    Per = ceil_div(N, InFlight),
    Self = self(),
    T0 = now_ns(),
    Pids = [spawn_link(fun() ->
                               [I = gen_server:call(Target, ping_msg(I), 120000) || I <- lists:seq(1, Per)],
                               Self ! {done, self()}
                       end) || _ <- lists:seq(1, InFlight)],
    [receive {done, P} -> ok end || P <- Pids],
    (now_ns() - T0) * N / (Per * InFlight).

%% 64 KiB binaries (one binary, sent N times), then a barrier call: elapsed ns.
remote_bulk(Target, N) ->
    Data = binary:copy(<<16#63>>, ?BULK_BYTES),
    Before = gen_server:call(Target, count, 120000),
    T0 = now_ns(),
    bulk_loop(Target, Data, N),
    After = gen_server:call(Target, count, 120000),
    Elapsed = now_ns() - T0,
    N = After - Before,
    Elapsed.

bulk_loop(_Target, _Data, 0) -> ok;
bulk_loop(Target, Data, K) ->
    gen_server:cast(Target, bulk_msg(Data)),
    bulk_loop(Target, Data, K - 1).

%% ---------------------------------------------------------------------------
%% local: one node
%% ---------------------------------------------------------------------------

local([Label]) ->
    Full = #{tell => env_int("BENCH_TELL_N", 2000000),
             asks => env_int("BENCH_ASK_N", 20000),
             spawns => env_int("BENCH_SPAWN_N", 100000),
             restarts => env_int("BENCH_SUP_RESTARTS", 10000),
             batch => env_int("BENCH_SUP_BATCH", 1000)},
    Warm = #{tell => ceil_div(maps:get(tell, Full), 10),
             asks => ceil_div(maps:get(asks, Full), 10),
             spawns => ceil_div(maps:get(spawns, Full), 10),
             restarts => ceil_div(maps:get(restarts, Full), 10),
             batch => maps:get(batch, Full)},
    _ = local_round(Warm),
    R = local_round(Full),
    emit(R ++ [{label, Label},
               {tellMessages, maps:get(tell, Full)}, {asks, maps:get(asks, Full)},
               {spawns, maps:get(spawns, Full)}, {restarts, maps:get(restarts, Full)},
               {restartBatch, maps:get(batch, Full)},
               {schedulers, erlang:system_info(schedulers_online)}]),
    halt(0).

local_round(#{tell := TellN, asks := AskN, spawns := SpawnN, restarts := RestartN, batch := Batch}) ->
    TellPer = ceil_div(TellN, ?SLICES_LOCAL),
    AskPer = ceil_div(AskN, ?SLICES_LOCAL),
    %% alternate cast / raw send slices (A B B A ...), as Telex alternates its variants
    {CastNs, RawNs} = lists:foldl(
        fun(S, {C, R}) ->
                Order = case S rem 2 of 0 -> [cast, raw]; 1 -> [raw, cast] end,
                lists:foldl(fun(cast, {C1, R1}) -> {C1 + isolated(fun() -> local_cast(TellPer) end), R1};
                               (raw, {C1, R1}) -> {C1, R1 + isolated(fun() -> local_raw(TellPer) end)}
                            end, {C, R}, Order)
        end, {0, 0}, lists:seq(0, ?SLICES_LOCAL - 1)),
    AskSlices = [isolated(fun() -> local_ask(1000, AskPer) end) || _ <- lists:seq(1, ?SLICES_LOCAL)],
    {AskP50, AskP99, AskPerSec} = latency_of(AskSlices),
    Spawn = isolated(fun() -> spawn_idle(SpawnN, raw) end),
    SpawnGs = isolated(fun() -> spawn_idle(SpawnN, gen_server) end),
    SupQuiet = isolated(fun() -> sup_restarts(RestartN, Batch, quiet) end),
    SupLogged = isolated(fun() -> sup_restarts(RestartN, Batch, logged) end),
    Total = TellPer * ?SLICES_LOCAL,
    [{tellCastPerSec, Total * 1.0e9 / CastNs},
     {tellRawPerSec, Total * 1.0e9 / RawNs},
     {askLatencyP50Micros, AskP50},
     {askLatencyP99Micros, AskP99},
     {askPerSec, AskPerSec}]
    ++ [{K, V} || {K, V} <- Spawn]
    ++ [{list_to_atom("genServer" ++ capitalize(atom_to_list(K))), V} || {K, V} <- SpawnGs]
    ++ [{restartsPerSec, SupQuiet},
        {restartsLoggedPerSec, SupLogged}].

capitalize([C | Rest]) when C >= $a, C =< $z -> [C - 32 | Rest];
capitalize(S) -> S.

%% gen_server:cast ×N to a counter gen_server, then gen_server:call(get): elapsed ns.
local_cast(N) ->
    {ok, Pid} = gen_server:start(bench_worker, counter, []),
    T0 = now_ns(),
    cast_loop(Pid, N),
    N = gen_server:call(Pid, get, infinity),
    Elapsed = now_ns() - T0,
    gen_server:stop(Pid),
    Elapsed.

cast_loop(_Pid, 0) -> ok;
cast_loop(Pid, K) -> gen_server:cast(Pid, {increment, 1}), cast_loop(Pid, K - 1).

%% Pid ! {increment, 1} ×N to a plain receive loop, then a {get, From} round trip: elapsed ns.
local_raw(N) ->
    Pid = spawn(fun() -> raw_counter(0) end),
    T0 = now_ns(),
    raw_loop(Pid, N),
    Pid ! {get, self()},
    N = receive {count, C} -> C end,
    Elapsed = now_ns() - T0,
    exit(Pid, kill),
    Elapsed.

raw_loop(_Pid, 0) -> ok;
raw_loop(Pid, K) -> Pid ! {increment, 1}, raw_loop(Pid, K - 1).

raw_counter(N) ->
    receive
        {increment, By} -> raw_counter(N + By);
        {get, From} -> From ! {count, N}, raw_counter(N)
    end.

%% gen_server:call(get) to a local gen_server, one in flight.
local_ask(Warmup, N) ->
    {ok, Pid} = gen_server:start(bench_worker, counter, []),
    [0 = gen_server:call(Pid, get) || _ <- lists:seq(1, Warmup)],
    Start = now_ns(),
    Samples = local_ask_loop(Pid, N, []),
    Total = now_ns() - Start,
    gen_server:stop(Pid),
    {Samples, Total}.

local_ask_loop(_Pid, 0, Acc) -> Acc;
local_ask_loop(Pid, K, Acc) ->
    T0 = now_ns(),
    0 = gen_server:call(Pid, get),
    local_ask_loop(Pid, K - 1, [now_ns() - T0 | Acc]).

%% N idle processes (raw: spawn/3 of a receive loop with one counter of state; gen_server:
%% gen_server:start of bench_worker idle, synchronous init). Memory: erlang:memory(processes)
%% delta minus this process's own growth (the pid list), / N; and the mean of
%% process_info(P, memory) (each process's own footprint).
spawn_idle(N, Kind) ->
    garbage_collect(),
    settle_memory(),
    Base = erlang:system_info(process_count),
    {memory, Self0} = process_info(self(), memory),
    M0 = erlang:memory(processes),
    T0 = now_ns(),
    Pids = case Kind of
               raw -> spawn_raw(N, []);
               gen_server -> spawn_gs(N, [])
           end,
    Elapsed = now_ns() - T0,
    wait_count(Base + N, 5000),
    garbage_collect(),
    M1 = erlang:memory(processes),
    {memory, Self1} = process_info(self(), memory),
    Info = lists:foldl(fun(P, Acc) -> {memory, M} = process_info(P, memory), Acc + M end, 0, Pids),
    T1 = now_ns(),
    [exit(P, kill) || P <- Pids],
    wait_count(Base, 10000),
    StopNs = now_ns() - T1,
    [{spawnPerSec, N * 1.0e9 / Elapsed},
     {bytesPerProcess, (M1 - M0 - (Self1 - Self0)) / N},
     {bytesPerProcessRawDelta, (M1 - M0) / N},
     {bytesPerProcessInfo, Info / N},
     {stopPerSec, N * 1.0e9 / StopNs}].

spawn_raw(0, Acc) -> Acc;
spawn_raw(K, Acc) -> spawn_raw(K - 1, [spawn(fun() -> idle(0) end) | Acc]).

spawn_gs(0, Acc) -> Acc;
spawn_gs(K, Acc) ->
    {ok, P} = gen_server:start(bench_worker, idle, []),
    spawn_gs(K - 1, [P | Acc]).

idle(Pings) ->
    receive ping -> idle(Pings + 1) end.

%% Memory of processes that exited is handed back to its allocator lazily (another scheduler's
%% instance may free it later): wait until erlang:memory(processes) stops changing.
settle_memory() -> settle_memory(erlang:memory(processes), 80).

settle_memory(_Prev, 0) -> ok;
settle_memory(Prev, K) ->
    timer:sleep(25),
    case erlang:memory(processes) of
        Prev -> ok;
        M -> settle_memory(M, K - 1)
    end.

wait_count(_Target, 0) -> timeout;
wait_count(Target, K) ->
    case erlang:system_info(process_count) =:= Target of
        true -> ok;
        false -> timer:sleep(1), wait_count(Target, K - 1)
    end.

%% Crash the child of a one_for_one supervisor and wait for its restart (its init tells us),
%% Total times, in batches of Batch restarts per supervisor (intensity Batch + 10 in 60 s):
%% restarts/s over the crash loops only. `quiet`: logger off (Telex's ActorSystem logs no crash
%% reports); `logged`: OTP's default reports (gen_server terminating, crash report, supervisor
%% report), formatted by a standard handler writing to /dev/null.
sup_restarts(Total, Batch, Logging) ->
    process_flag(trap_exit, true),
    Config = logger:get_primary_config(),
    case Logging of
        quiet -> logger:set_primary_config(level, none);
        logged ->
            logger:set_primary_config(level, notice),
            _ = logger:remove_handler(default),
            ok = logger:add_handler(devnull, logger_std_h, #{config => #{type => {file, "/dev/null"}}})
    end,
    Batches = ceil_div(Total, Batch),
    Ns = lists:sum([sup_batch(Batch) || _ <- lists:seq(1, Batches)]),
    case Logging of
        logged -> logger:remove_handler(devnull);
        quiet -> ok
    end,
    logger:set_primary_config(Config),
    Batches * Batch * 1.0e9 / Ns.

sup_batch(B) ->
    {ok, Sup} = supervisor:start_link(bench_sup, {B + 10, self()}),
    P0 = receive {started, P} -> P end,
    T0 = now_ns(),
    _ = crash_loop(P0, B),
    Elapsed = now_ns() - T0,
    exit(Sup, shutdown),
    receive {'EXIT', Sup, _} -> ok end,
    Elapsed.

crash_loop(P, 0) -> P;
crash_loop(P, K) ->
    gen_server:cast(P, crash),
    receive {started, P2} -> crash_loop(P2, K - 1) end.

%% ---------------------------------------------------------------------------
%% helpers
%% ---------------------------------------------------------------------------

%% Runs F in a fresh process (its own heap and mailbox) and returns its result.
isolated(F) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {self(), result, F()} end),
    receive
        {Pid, result, R} ->
            receive {'DOWN', Ref, process, Pid, _} -> ok end,
            R;
        {'DOWN', Ref, process, Pid, Reason} ->
            erlang:error({benchmark_failed, Reason})
    end.

%% Nearest-rank percentiles over all slices (as bench/lib.ts), in µs; asks/s over the timed loops.
latency_of(Slices) ->
    All = lists:sort(lists:append([S || {S, _} <- Slices])),
    TotalNs = lists:sum([T || {_, T} <- Slices]),
    N = length(All),
    T = list_to_tuple(All),
    P = fun(Pct) -> element(max(1, min(N, ceil(Pct / 100 * N))), T) / 1000 end,
    {P(50), P(99), N * 1.0e9 / TotalNs}.

emit(Pairs) ->
    Body = lists:join(",", [["\"", atom_to_list(K), "\":", json_value(V)] || {K, V} <- Pairs]),
    io:format("RESULT {~s}~n", [Body]).

json_value(V) when is_integer(V) -> integer_to_list(V);
json_value(V) when is_float(V) -> float_to_list(V, [short]);
json_value(V) when is_list(V) -> ["\"", V, "\""];
json_value(V) when is_atom(V) -> ["\"", atom_to_list(V), "\""].
