/**
 * Observability: every public operation of the library is a span and the
 * library counts and times its work with Effect metrics. This example prints
 * the spans with a small console tracer while it writes, consumes and
 * collects, then reads the library's metrics back.
 *
 *   npx tsx observability.ts                  # in your app: spawns a redis-server for the run (or uses REDIS_URL)
 *   npm run example examples/observability.ts # in this repository (the package name resolves to src/)
 *
 * In production, give Effect a real tracer and metrics exporter instead
 * (e.g. `@effect/opentelemetry`): the library's spans and metrics flow there.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type { Exit, MetricPair } from "effect"
import { Duration, Effect, Fiber, Metric, MetricState, Option, Tracer } from "effect"
import { pathToFileURL } from "node:url"
import { Consumer, Gc, Groups, Naming, Streams } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

const depth = (span: Tracer.AnySpan): number =>
  span._tag === "ExternalSpan" ? 0 : Option.match(span.parent, { onNone: () => 0, onSome: (parent) => 1 + depth(parent) })

const outcome = (exit: Exit.Exit<unknown, unknown>): string => (exit._tag === "Success" ? "ok" : "failed")

/**
 * A tracer that records spans as Effect's own tracer does, and prints each
 * one when it ends: indented under its parent, with its duration and outcome.
 */
export const consoleTracer = (native: Tracer.Tracer, print: (line: string) => void): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = native.span(name, parent, context, links, startTime, kind, options)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        end(endTime, exit)
        const took = Duration.toMillis(Duration.nanos(endTime - startTime)).toFixed(1)
        print(`${"  ".repeat(depth(span))}${name}  ${took}ms  ${outcome(exit)}`)
      }
      return span
    },
    context: (f, fiber) => native.context(f, fiber)
  })

const stateOf = (state: MetricState.MetricState.Untyped): string => {
  if (MetricState.isCounterState(state)) return `count=${state.count}`
  if (MetricState.isGaugeState(state)) return `value=${state.value}`
  if (MetricState.isHistogramState(state)) return `count=${state.count} sum=${state.sum.toFixed(1)} max=${state.max.toFixed(1)}`
  if (MetricState.isFrequencyState(state)) return Array.from(state.occurrences, ([key, n]) => `${key}=${n}`).join(" ")
  if (MetricState.isSummaryState(state)) return `count=${state.count} sum=${state.sum.toFixed(1)}`
  return "?"
}

/** One line per metric of the library: name, tags and state. */
export const libraryMetrics: Effect.Effect<ReadonlyArray<string>> = Effect.map(
  Metric.snapshot,
  (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>) =>
    pairs
      .filter((pair) => pair.metricKey.name.startsWith("effect_redis_streams"))
      .map((pair) => {
        const tags = pair.metricKey.tags.map((tag) => `${tag.key}=${tag.value}`).join(",")
        return `${pair.metricKey.name}${tags === "" ? "" : `{${tags}}`}  ${stateOf(pair.metricState)}`
      })
      .sort()
)

const stream = Naming.streamName("observed")
const group = Naming.groupName("observers")

/** Writes, consumes and collects with spans printed; returns the metric lines. */
export const program = (print: (line: string) => void) =>
  Effect.gen(function*() {
    yield* Groups.create(stream, group, { from: "0" })
    yield* Streams.xaddAll(stream, Array.from({ length: 5 }, (_, i) => ({ n: i })))
    const consumer = yield* Effect.forkScoped(Consumer.run({
      stream,
      group,
      consumer: Naming.consumerName("observers", 0),
      handler: () => Effect.void,
      block: "200 millis"
    }))
    // Wait until the consumer has drained the stream (bounded: 100 × 50 ms).
    for (let i = 0; i < 100; i++) {
      const stats = yield* Groups.stats(stream, group)
      if (stats.pending === 0 && stats.unconsumed === 0) break
      yield* Effect.sleep("50 millis")
    }
    yield* Fiber.interrupt(consumer)
    yield* Gc.collect(stream, group)
    const metrics = yield* libraryMetrics
    print("")
    print("metrics:")
    for (const line of metrics) print(`  ${line}`)
    return metrics
  }).pipe(
    Effect.scoped,
    Effect.withSpan("observability-example"),
    (effect) => Effect.flatMap(Effect.tracer, (native) => Effect.withTracer(effect, consoleTracer(native, print)))
  )

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(program((line) => console.log(line)).pipe(Effect.provide(RedisTest.layer())))
}
