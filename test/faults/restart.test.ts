import { expect, layer } from "@effect/vitest"
import { Effect, Ref } from "effect"
import { RedisTest } from "../../src/testing/index.js"
import { addEntries, eventually } from "../utils.js"
import { freshGroup, recording, report, settled, startConsumers, startGc, stopWithin, Tally } from "./utils.js"

layer(RedisTest.layer({ appendOnly: true }), { excludeTestServices: true })("fault: server restart", (it) => {
  it.scoped("with AOF on, under 3 running consumers and a running Gc.schedule: nothing lost, none pending", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const { dlq, group, stream } = yield* freshGroup
      const tally = new Tally()
      const fibers = yield* startConsumers(3, {
        stream,
        group,
        handler: recording(tally, () => Effect.sleep("2 millis"))
      })
      const gc = yield* startGc(stream, group, { rebalance: { idle: "2 seconds" }, dlq: { deliveries: 10, stream: dlq } }, "200 millis")
      const before = yield* addEntries(stream, 300)
      // restart twice while the consumers are part-way through the entries
      for (let round = 1; round <= 2; round++) {
        yield* eventually(Effect.sync(() => expect(tally.handled).toBeGreaterThan(round * 20)))
        yield* server.restart
      }
      const passes = (yield* Ref.get(gc)).passes
      const after = yield* addEntries(stream, 300, 300)
      const counts = yield* settled({ stream, group, dlq, tally, written: [...before, ...after], within: "40 seconds" })
      expect(counts.deadLettered).toBe(0)
      yield* stopWithin(fibers)
      yield* report("server restart (AOF)", counts)
      // gc kept running across the restarts
      yield* eventually(Effect.map(Ref.get(gc), (now) => expect(now.passes).toBeGreaterThan(passes + 1)))
      expect((yield* Ref.get(gc)).Dlq).toBe(0)
    }), 60_000)
})
