/**
 * The live scenario: three library consumers in one group while a producer
 * process writes; throughput, and end-to-end latency from the `ts` stamp the
 * producer puts in each entry. In a module of its own because it needs the
 * platform's process spawning, which the drains should not carry in their RSS.
 */
import { Command } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { Deferred, Effect } from "effect"
import { fileURLToPath } from "node:url"
import * as Redis from "../src/Redis.js"
import { consume } from "./consumer.js"
import { emptyGroup } from "./raw.js"
import type { Ctx, Measured, Scenario } from "./scenario.js"
import { BenchError, nowMs } from "./scenario.js"

// "../bench/": the same file from bench/ and from the bundled child in .bench-build/.
const producerPath = fileURLToPath(new URL("../bench/producer.ts", import.meta.url))

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN

/** Three consumers in one group while a producer process writes; latency from the producer's `ts` stamp. */
const live = (ctx: Ctx): Effect.Effect<Measured, unknown> =>
  Effect.gen(function*() {
    const latencies = new Float64Array(ctx.n)
    let received = 0
    let first = Infinity
    const onMessage = (fields: Record<string, string>) => {
      const sent = Number(fields["ts"])
      latencies[received++] = nowMs() - sent
      if (sent < first) first = sent
    }
    const producer = yield* Deferred.make<number, unknown>()
    const startProducer = Effect.forkScoped(
      Command.exitCode(Command.make(process.execPath, "--import", "tsx", producerPath, ctx.url, ctx.stream, String(ctx.n), String(ctx.tuning.rate)).pipe(
        Command.stderr("inherit")
      )).pipe(Effect.exit, Effect.flatMap((exit) => Deferred.done(producer, exit)))
    )
    const names = ["consumer/bench/0", "consumer/bench/1", "consumer/bench/2"]
    const handled = yield* consume(ctx, names, {}, onMessage, startProducer)
    const seconds = (nowMs() - first) / 1000
    const code = yield* Deferred.await(producer)
    if (code !== 0) return yield* new BenchError({ message: `the producer exited with ${code}` })
    latencies.sort()
    return {
      handled,
      seconds,
      extra: {
        p50_ms: Number(percentile(latencies, 0.5).toFixed(1)),
        p99_ms: Number(percentile(latencies, 0.99).toFixed(1))
      }
    }
  }).pipe(Effect.scoped, Effect.provide(Redis.layer(ctx.url)), Effect.provide(NodeContext.layer))

/** The live scenario. */
export const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "live/library-3-consumers",
    description: "three consumers in one group, a producer process writing meanwhile",
    baseline: "drain/raw-batch",
    size: { full: 100_000, quick: 10_000 },
    setup: emptyGroup,
    run: live
  }
]
