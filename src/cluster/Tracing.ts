/**
 * OTLP export of a node's spans: Effect's OTLP tracer (`effect/observability`) over HTTP, with
 * the node's name as service name (unless `OTEL_SERVICE_NAME` is set) and `telex.node` /
 * `service.instance.id` resource attributes.
 *
 * Telex traces asks: an ask from a traced fiber gets a client span `telex.ask <Protocol>.<Tag>`
 * and its handler, on whatever node, a server span `telex.handle <Protocol>.<Tag>` whose parent
 * is that client span (the trace context travels in the Ask envelope). With an OTLP tracer
 * installed every ask is traced, from its own root span when the asker has none.
 *
 * Configuration, the OpenTelemetry environment variables first, then the cluster config:
 *
 * - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL) or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base
 *   URL, `/v1/traces` is appended), else the config's `otlp.endpoint` (a base URL, the same way);
 *   no endpoint: no export (and no cost).
 * - `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL` / `otlp.protocol`:
 *   `http/protobuf` (default) or `http/json`.
 * - `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,…`,
 *   percent-encoded values), e.g. an API key for a hosted collector.
 * - `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER` without `otlp` (e.g. `none`): off.
 * - `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`: as usual (explicit node attributes win).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as OtlpExporter from "effect/observability/OtlpExporter"
import * as OtlpSerialization from "effect/observability/OtlpSerialization"
import * as OtlpTracer from "effect/observability/OtlpTracer"

export type Protocol = "http/protobuf" | "http/json"

export interface OtlpSettings {
  /** where spans are POSTed (the full traces URL, e.g. `http://127.0.0.1:4318/v1/traces`) */
  readonly url: string
  readonly protocol: Protocol
  readonly headers: Record<string, string>
}

/** The `otlp` section of a cluster config. */
export interface OtlpConfig {
  /** collector base URL, e.g. `http://127.0.0.1:4318` (`/v1/traces` is appended) */
  readonly endpoint?: string | undefined
  readonly protocol?: Protocol | undefined
}

type Env = Readonly<Record<string, string | undefined>>

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === "" ? undefined : value.trim()

const tracesUrlOf = (base: string): string => `${base.endsWith("/") ? base : `${base}/`}v1/traces`

const parseHeaders = (text: string | undefined): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const entry of (text ?? "").split(",")) {
    const i = entry.indexOf("=")
    if (i <= 0) continue
    const key = entry.slice(0, i).trim()
    const value = entry.slice(i + 1).trim()
    if (key === "") continue
    try {
      headers[key] = decodeURIComponent(value)
    } catch {
      headers[key] = value
    }
  }
  return headers
}

/**
 * Where and how to export spans, from the OpenTelemetry environment variables and the cluster
 * config's `otlp` section; `undefined` when nothing is configured or export is disabled.
 */
export const settings = (config?: OtlpConfig | undefined, env: Env = process.env): OtlpSettings | undefined => {
  if (nonEmpty(env.OTEL_SDK_DISABLED)?.toLowerCase() === "true") return undefined
  const exporters = nonEmpty(env.OTEL_TRACES_EXPORTER)
  if (exporters !== undefined && !exporters.split(",").some((e) => e.trim().toLowerCase() === "otlp")) return undefined
  const full = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
  const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT) ?? nonEmpty(config?.endpoint)
  const url = full ?? (base === undefined ? undefined : tracesUrlOf(base))
  if (url === undefined) return undefined
  const protocol = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_PROTOCOL) ??
    config?.protocol
  return {
    url,
    // grpc is not supported: the HTTP endpoint of the same collector takes protobuf too
    protocol: protocol === "http/json" ? "http/json" : "http/protobuf",
    headers: {
      ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS),
      ...parseHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS)
    }
  }
}

export interface LayerOptions extends OtlpSettings {
  /** the node's name: service name (unless `OTEL_SERVICE_NAME` is set) and `telex.node` */
  readonly node: string
  /** how often batches are sent (default 5 seconds) */
  readonly exportInterval?: Duration.Input | undefined
  readonly env?: Env | undefined
}

/**
 * Installs Effect's OTLP tracer (`Tracer.Tracer`) for everything built or run inside: provide it
 * around the node's layers, so its actors (spawned there) trace with it. The exporter flushes
 * when the layer's scope closes (at most 3 seconds); `OtlpExporter.Flusher` flushes on demand.
 */
export const layer = (options: LayerOptions): Layer.Layer<OtlpExporter.Flusher> => {
  const env = options.env ?? process.env
  return OtlpTracer.layer({
    url: options.url,
    resource: {
      // OtlpResource lets an explicit service name win over OTEL_SERVICE_NAME: pass ours only
      // when the operator set none
      ...(nonEmpty(env.OTEL_SERVICE_NAME) === undefined ? { serviceName: options.node } : {}),
      attributes: { "telex.node": options.node, "service.instance.id": options.node }
    },
    headers: options.headers,
    ...(options.exportInterval !== undefined ? { exportInterval: options.exportInterval } : {})
  }).pipe(
    Layer.provide(options.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(FetchHttpClient.layer)
  )
}

/**
 * The OTLP layer for a node from env and config; without settings only an idle `Flusher` (no
 * tracer is installed, nothing is traced).
 */
export const layerFor = (
  node: string,
  config?: OtlpConfig | undefined,
  env: Env = process.env
): Layer.Layer<OtlpExporter.Flusher> => {
  const s = settings(config, env)
  return s === undefined ? OtlpExporter.layerFlusher : layer({ ...s, node, env })
}
