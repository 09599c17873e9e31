/**
 * Tracing from producer to consumer: a request's span writes an order with
 * `Streams.xaddMap`, which puts the W3C trace context of its producer span
 * into the entry (field `trace:traceparent`); the consumer's span for the
 * entry links to that span, so a tracing backend shows the work the request
 * caused, even when it runs in another process or after a restart.
 *
 *   npm install @effect/opentelemetry @opentelemetry/api @opentelemetry/resources \
 *     @opentelemetry/sdk-trace-base @opentelemetry/sdk-trace-node @opentelemetry/semantic-conventions
 *   npx tsx tracing.ts                    # in your app: spawns a redis-server for the run (or uses REDIS_URL)
 *   npm run example examples/tracing.ts   # in this repository (the package name resolves to src/)
 *
 * It exports to the console; in production give `NodeSdk.layer` the
 * span processor of your backend (e.g. OTLP) instead.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Deferred, Effect, Fiber } from "effect"
import { pathToFileURL } from "node:url"
import { Consumer, Groups, Naming, Streams } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

const stream = Naming.streamName("orders-traced")
const group = Naming.groupName("fulfilment")

/** What the handler saw of the entry: its id and fields (the trace field is not among them). */
export interface Handled {
  readonly id: string
  readonly fields: Readonly<Record<string, string>>
}

/** OpenTelemetry for the app, every span sent to `spanProcessor`. */
export const Tracing = (spanProcessor: SpanProcessor) =>
  NodeSdk.layer(() => ({ resource: { serviceName: "tracing-example" }, spanProcessor }))

/**
 * One request that writes an order, and a consumer that handles it, under
 * the app's tracer; returns what the handler saw.
 */
export const program = Effect.gen(function*() {
  yield* Groups.create(stream, group, { from: "$" })
  const handled = yield* Deferred.make<Handled>()
  const consumer = yield* Effect.fork(Consumer.run({
    stream,
    group,
    consumer: Naming.consumerName("fulfilment", 0),
    block: "200 millis",
    // "link" is the default: the consumer's span starts a trace of its own,
    // linked to the producer's; "parent" makes it a child of it instead.
    trace: "link",
    handler: (message) =>
      Effect.log(`fulfilling ${message.fields.order}`).pipe(
        Effect.zipRight(Deferred.succeed(handled, { id: message.id, fields: message.fields }))
      )
  }))
  yield* Streams.xaddMap(stream, "*", { order: "o-1001" }).pipe(
    Effect.withSpan("POST /orders", { kind: "server" })
  )
  const seen = yield* Deferred.await(handled)
  yield* Fiber.interrupt(consumer)
  return seen
})

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(
    program.pipe(
      Effect.provide(Tracing(new SimpleSpanProcessor(new ConsoleSpanExporter()))),
      Effect.provide(RedisTest.layer())
    )
  )
}
