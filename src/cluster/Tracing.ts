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
import { type Env, nonEmpty, type OtlpConfig, type OtlpSettings, settings } from "./internal/otlpSettings.ts"

export { type OtlpConfig, type OtlpSettings, type Protocol, settings } from "./internal/otlpSettings.ts"

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
