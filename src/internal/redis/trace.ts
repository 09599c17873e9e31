/**
 * Trace context carried in stream entries: a producer writes the W3C
 * `traceparent` of its span into the entry, under a field of its own, and
 * the consumer's span for the entry links to it (or takes it as parent), so
 * that one trace runs from the request that wrote an entry to the work it
 * caused, across processes and restarts (the context lives in the entry).
 * The format is Effect's own (`HttpTraceContext` of @effect/platform); the
 * attributes are OpenTelemetry's messaging semantic conventions.
 */
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import type { Headers } from "@effect/platform/Headers"
import type { Option, Tracer } from "effect"
import { Effect, FiberRef } from "effect"

/**
 * The field an entry's trace context is written to by default: a name of
 * the library's own (a `:` namespaces it, as a letter's `dlq:` fields), which
 * a record of the user's that has it is refused for.
 */
export const defaultField = "trace:traceparent"

/**
 * Effect's built-in tracer: its spans go nowhere, so under it entries get
 * no spans and no trace context (the hot path pays nothing).
 */
const builtInTracer = Effect.runSync(Effect.tracer)

/** Whether spans made here would be exported: tracing on, and a tracer other than Effect's built-in one. */
export const exporting: Effect.Effect<boolean> = Effect.zipWith(
  FiberRef.get(FiberRef.currentTracerEnabled),
  Effect.tracer,
  (enabled, tracer) => enabled && tracer !== builtInTracer
)

/** A span's context as a W3C `traceparent` value. */
export const traceparentOf = (span: Tracer.Span): string => HttpTraceContext.toHeaders(span)["traceparent"]!

/** The span a `traceparent` value names, or none when it is malformed. */
export const parse = (traceparent: string): Option.Option<Tracer.ExternalSpan> =>
  HttpTraceContext.w3c({ traceparent } as unknown as Headers)

/** The trace context each message read came with, when it came with one. */
export const carried = new WeakMap<object, string>()

/** OpenTelemetry's messaging attributes of a span about `stream`. */
export const messaging = (
  stream: string,
  operation: { readonly type: "send" | "process"; readonly name: string },
  more: Readonly<Record<string, string | number>> = {}
): Record<string, string | number> => ({
  "messaging.system": "redis",
  "messaging.destination.name": stream,
  "messaging.operation.type": operation.type,
  "messaging.operation.name": operation.name,
  ...more
})
