import { expect, layer } from "@effect/vitest"
import { Effect, Ref } from "effect"
import * as Streams from "../../src/Streams.js"
import { RedisTest } from "../../src/testing/index.js"
import { freshGroup, quietControl, recording, report, settled, startConsumers, startGc, stopWithin, Tally } from "./utils.js"

/**
 * Entries written. The figure is 200 000: run it with
 * `FAULT_LOAD_N=200000 npx vitest run test/faults/load.test.ts`. The default
 * keeps this case well under a minute on 2 shared cores (CI's whole run must
 * stay under 15 minutes).
 */
const n = Number(process.env["FAULT_LOAD_N"] ?? 50_000)
const consumers = 5
const failureRate = 0.01

layer(RedisTest.layer(), { excludeTestServices: true })("fault: load", (it) => {
  it.scoped(`${consumers} consumers, ${n} entries, gc every 200 ms, 1 % random handler failures: nothing lost, none pending`, () =>
    Effect.gen(function*() {
      const { dlq, group, stream } = yield* freshGroup
      const tally = new Tally()
      let failures = 0
      const fibers = yield* startConsumers(consumers, {
        stream,
        group,
        control: quietControl,
        handler: recording(tally, () =>
          Effect.suspend(() => {
            if (Math.random() >= failureRate) return Effect.void
            failures++
            return Effect.fail("random failure")
          }))
      })
      const gc = yield* startGc(stream, group, { rebalance: { idle: "5 seconds" }, dlq: { deliveries: 10, stream: dlq } }, "200 millis")
      const written = yield* Streams.xaddAll(stream, Array.from({ length: n }, (_, i) => ({ n: i })))
      const counts = yield* settled({ stream, group, dlq, tally, written, within: `${60 + Math.ceil(n / 2_000)} seconds` })
      yield* stopWithin(fibers)
      const actions = yield* Ref.get(gc)
      yield* report(`load: ${consumers} consumers, 1 % failures (${failures} failed handlings, ${actions.passes} gc passes, ${actions.Rebalance} rebalanced)`, counts)
      expect(counts.handled + counts.deadLettered).toBe(n)
      expect(failures).toBeGreaterThan(0)
    }), 120_000 + n)
})
