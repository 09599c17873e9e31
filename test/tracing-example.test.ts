import { expect, layer } from "@effect/vitest"
import { SpanKind } from "@opentelemetry/api"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { program, Tracing } from "../examples/tracing.js"
import { RedisTest } from "../src/testing/index.js"

layer(RedisTest.layer(), { excludeTestServices: true })("examples/tracing.ts", (it) => {
  it.effect("the consumer's span links to the producer span the request made, and the handler never sees the trace field", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      // the spans are read while the tracer runs (shutting it down clears the exporter)
      const { seen, spans } = yield* program.pipe(
        Effect.map((seen) => ({ seen, spans: exporter.getFinishedSpans() })),
        Effect.provide(Tracing(new SimpleSpanProcessor(exporter)))
      )
      expect(seen.fields).toEqual({ order: "o-1001" })
      const named = (name: string) => spans.filter((span) => span.name === name)
      const [request] = named("POST /orders")
      const [producer] = named("Streams.xaddMap")
      const [handle] = named("Consumer.handle")
      expect(request).toBeDefined()
      expect(producer!.parentSpanContext?.spanId).toBe(request!.spanContext().spanId)
      expect(producer!.kind).toBe(SpanKind.PRODUCER)
      expect(handle!.kind).toBe(SpanKind.CONSUMER)
      expect(handle!.spanContext().traceId).not.toBe(request!.spanContext().traceId)
      expect(handle!.links.map((link) => link.context.spanId)).toEqual([producer!.spanContext().spanId])
      expect(handle!.attributes["messaging.message.id"]).toBe(seen.id)
    }), 30_000)
})
