/**
 * OTLP export: two nodes, each with its own OTLP tracer (service name = node name), post their
 * spans to a tiny collector on 127.0.0.1 (node:http). An ask across the nodes must show up as
 * one trace: the client span from the asking node, the handler span from the other node with
 * the client span as its parent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { OtlpExporter } from "effect/observability"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Tracing from "../../src/cluster/Tracing.ts"
import { Actor } from "../../src/index.ts"
import * as TestNode from "../../src/testing/TestNode.ts"
import { eventually } from "./_helpers.ts"
import { freePorts, killAll, telex } from "./_process.ts"

interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

interface Collector {
  readonly url: string
  readonly received: Array<Received>
  readonly close: () => void
}

/** An OTLP/HTTP collector on loopback that keeps every request. */
const startCollector = (): Promise<Collector> =>
  new Promise((resolve) => {
    const received: Array<Received> = []
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        received.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) })
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({ url: `http://127.0.0.1:${port}`, received, close: () => server.close() })
    })
  })

const collector = Effect.acquireRelease(Effect.promise(startCollector), (c) => Effect.sync(c.close))

interface OtlpSpan {
  readonly service: string
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly kind: number
  readonly attributes: Record<string, unknown>
}

/** The spans of OTLP/JSON trace exports, with their resource's service.name. */
const spansOf = (received: ReadonlyArray<Received>): Array<OtlpSpan> =>
  received.filter((r) => r.path === "/v1/traces" && String(r.headers["content-type"]).includes("json")).flatMap((r) => {
    const data = JSON.parse(r.body.toString("utf8"))
    return (data.resourceSpans as Array<any>).flatMap((rs) => {
      const service = rs.resource.attributes.find((a: any) => a.key === "service.name")?.value.stringValue
      return (rs.scopeSpans as Array<any>).flatMap((ss) =>
        (ss.spans as Array<any>).map((s): OtlpSpan => ({
          service,
          name: s.name,
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId === "" ? undefined : s.parentSpanId,
          kind: s.kind,
          attributes: Object.fromEntries((s.attributes as Array<any>).map((a) => [a.key, Object.values(a.value)[0]]))
        }))
      )
    })
  })

const Echo = Actor.make("OtlpEcho", { Echo: Actor.ask({ text: Schema.String }, { success: Schema.String }) })
const EchoLive = Echo.behavior(Effect.succeed({ Echo: ({ text }) => Effect.succeed(text) }))

const secret = Redacted.make("otlp-test-secret")

/** A node whose actors (and whose caller, with `run`) trace with its own OTLP tracer. */
const startNode = (name: string, settings: Tracing.OtlpSettings) =>
  Effect.gen(function*() {
    const tracing = yield* Layer.build(Tracing.layer({ ...settings, node: name, exportInterval: "1 hour", env: {} }))
    const { node, system } = yield* TestNode.startNode(name, { cluster: "otlp", secret }).pipe(Effect.provideContext(tracing))
    return {
      node,
      system,
      /** runs an effect as code of this node (with its tracer) */
      run: <A, E>(effect: Effect.Effect<A, E>) => Effect.provideContext(effect, tracing),
      flush: Context.get(tracing, OtlpExporter.Flusher).flush
    }
  })

describe("OTLP export", () => {
  it("settings: OpenTelemetry environment variables first, then the config", () => {
    assert.isUndefined(Tracing.settings(undefined, {}))
    assert.deepStrictEqual(Tracing.settings({ endpoint: "http://collector:4318" }, {}), {
      url: "http://collector:4318/v1/traces",
      protocol: "http/protobuf",
      headers: {}
    })
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://env:4318/",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=a%20b, other = 1"
    }
    assert.deepStrictEqual(Tracing.settings({ endpoint: "http://collector:4318" }, env), {
      url: "http://env:4318/v1/traces",
      protocol: "http/json",
      headers: { "x-api-key": "a b", other: "1" }
    })
    assert.strictEqual(
      Tracing.settings(undefined, { ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t:1/custom" })?.url,
      "http://t:1/custom"
    )
    assert.isUndefined(Tracing.settings({ endpoint: "http://c:4318" }, { OTEL_SDK_DISABLED: "true" }))
    assert.isUndefined(Tracing.settings({ endpoint: "http://c:4318" }, { OTEL_TRACES_EXPORTER: "none" }))
    assert.isDefined(Tracing.settings({ endpoint: "http://c:4318" }, { OTEL_TRACES_EXPORTER: "console,otlp" }))
  })

  it.live("an ask across two nodes is one trace: client span on the asker, handler span on the callee", () =>
    Effect.gen(function*() {
      const { url, received } = yield* collector
      const settings = Tracing.settings(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })!
      const b = yield* startNode("b", settings)
      const a = yield* startNode("a", settings)
      yield* b.run(b.system.spawn(EchoLive, { name: "echo" }))
      yield* a.node.connect({ name: "b", host: b.node.address.host, port: b.node.address.port })
      const echo = yield* a.node.lookup("b", Echo, "echo")
      // no span around it: with an OTLP tracer installed, the ask is the root of its trace
      assert.strictEqual(yield* a.run(echo.ask(Echo.Echo({ text: "hi" }))), "hi")
      yield* a.flush
      yield* b.flush
      yield* eventually("the collector has both spans", () => {
        const names = spansOf(received).map((s) => s.name)
        return names.includes("telex.ask OtlpEcho.Echo") && names.includes("telex.handle OtlpEcho.Echo")
      })
      const spans = spansOf(received)
      const client = spans.find((s) => s.name === "telex.ask OtlpEcho.Echo")!
      const server = spans.find((s) => s.name === "telex.handle OtlpEcho.Echo")!
      assert.strictEqual(client.service, "a")
      assert.strictEqual(server.service, "b")
      assert.strictEqual(server.traceId, client.traceId)
      assert.strictEqual(server.parentSpanId, client.spanId)
      assert.isUndefined(client.parentSpanId)
      assert.strictEqual(client.kind, 3) // SPAN_KIND_CLIENT
      assert.strictEqual(server.kind, 2) // SPAN_KIND_SERVER
      assert.strictEqual(server.attributes["telex.actor"], echo.key)
      assert.strictEqual(server.attributes["telex.actor.name"], "echo")
      assert.strictEqual(server.attributes["telex.node"], "b")
      assert.strictEqual(client.attributes["telex.actor"], echo.key)
      // the exporter's own HTTP requests are not traced
      assert.isFalse(spans.some((s) => s.name.startsWith("http")))
    }).pipe(Effect.scoped))

  it.live("the default protocol is OTLP/HTTP protobuf", () =>
    Effect.gen(function*() {
      const { url, received } = yield* collector
      const settings = Tracing.settings({ endpoint: url }, {})!
      const a = yield* startNode("solo", settings)
      const echo = yield* a.run(a.system.spawn(EchoLive))
      const traceId = yield* a.run(
        Effect.gen(function*() {
          yield* echo.ask(Echo.Echo({ text: "x" }))
          return (yield* Effect.currentSpan).traceId
        }).pipe(Effect.withSpan("root"))
      )
      yield* a.flush
      yield* eventually("an export arrived", () => received.length > 0)
      const request = received[0]!
      assert.strictEqual(request.path, "/v1/traces")
      assert.strictEqual(request.headers["content-type"], "application/x-protobuf")
      // protobuf carries ids as raw bytes
      assert.isTrue(request.body.includes(Buffer.from(traceId, "hex")))
      assert.isTrue(request.body.includes(Buffer.from("telex.handle OtlpEcho.Echo")))
    }).pipe(Effect.scoped))

  it("telex start with OTEL_EXPORTER_OTLP_ENDPOINT: each node exports its spans, one trace per ask across nodes", async () => {
    const c = await startCollector()
    const dir = mkdtempSync(join(tmpdir(), "telex-otlp-test-"))
    try {
      const ports = await freePorts(2)
      const config = join(dir, "otlp.json")
      writeFileSync(config, JSON.stringify({
        cluster: "otlp-process",
        app: fileURLToPath(new URL("../fixtures/otlp-app.ts", import.meta.url)),
        nodes: [{ name: "n1", port: ports[0], run: ["caller"] }, { name: "n2", port: ports[1], run: ["echo"] }],
        heartbeat: { interval: "500ms", acceptablePause: "10s" }
      }))
      const launcher = telex(["start", config, "--duration", "6s"], {
        env: {
          TELEX_SECRET: "otlp-test-secret-0123456789",
          OTEL_EXPORTER_OTLP_ENDPOINT: c.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_SERVICE_NAME: undefined,
          OTEL_SDK_DISABLED: undefined,
          OTEL_TRACES_EXPORTER: undefined
        },
        cwd: dir
      })
      const result = await launcher.result(180_000)
      const why = launcher.describe()
      assert.strictEqual(result.code, 0, why)
      assert.match(result.stdout, /n1 │ .*exporting spans to http:\/\/127\.0\.0\.1:\d+\/v1\/traces \(OTLP http\/json\)/, why)
      // (and the handler's log line carries the actor, next to the node's prefix)
      assert.match(result.stdout, /^n2 │ .*echo tick-\d+ \(.*actor=echo/m, why)
      // the nodes flush when they stop
      const spans = spansOf(c.received)
      const handled = spans.filter((s) => s.name === "telex.handle OtlpAppEcho.Echo")
      assert.isAbove(handled.length, 0, why)
      const byId = new Map(spans.map((s) => [s.spanId, s]))
      const linked = handled.filter((server) => {
        const client = byId.get(server.parentSpanId ?? "")
        const root = client === undefined ? undefined : byId.get(client.parentSpanId ?? "")
        return server.service === "n2" && client?.name === "telex.ask OtlpAppEcho.Echo" && client.service === "n1" &&
          client.traceId === server.traceId && root?.name === "caller.tick" && root.traceId === server.traceId
      })
      assert.isAbove(linked.length, 0, `no handler span linked to a client span of n1 under caller.tick\n${why}`)
    } finally {
      killAll()
      c.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 200_000)
})
