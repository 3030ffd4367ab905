/**
 * Where and how a node exports spans, read from the OpenTelemetry environment variables and the
 * cluster config. Apart from `Tracing.ts` so that a node without OTLP export does not load the
 * exporter and its HTTP client.
 */
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

export type Env = Readonly<Record<string, string | undefined>>

export const nonEmpty = (value: string | undefined): string | undefined =>
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
