import { expect, layer } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect, Ref } from "effect"
import * as Redis from "../../src/Redis.js"
import { RedisTest } from "../../src/testing/index.js"
import { addEntries } from "../utils.js"
import { freshGroup, recording, report, settled, startConsumers, startGc, stopWithin, Tally } from "./utils.js"

/** gc hands over entries idle this long; the slow handler runs three times as long. */
const rebalanceIdle = 800
const slowMillis = 2_500

/**
 * Two consumers and a `Gc.schedule` every 200 ms (rebalance idle 800 ms) over
 * one slow entry (2.5 s) among 20 quick ones; returns the counts and how many
 * entries gc handed over.
 */
const slowEntryUnderGc = (heartbeat: Duration.DurationInput | undefined) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const { dlq, group, stream } = yield* freshGroup
    const slow = String(yield* redis.send("XADD", [stream, "*", "slow", "yes"]))
    const written = [slow, ...yield* addEntries(stream, 20)]
    const tally = new Tally()
    const fibers = yield* startConsumers(2, {
      stream,
      group,
      heartbeat,
      handler: recording(tally, (message) => message.id === slow ? Effect.sleep(slowMillis) : Effect.void)
    })
    const gc = yield* startGc(stream, group, { rebalance: { idle: rebalanceIdle }, dlq: { deliveries: 10, stream: dlq } }, "200 millis")
    const counts = yield* settled({ stream, group, dlq, tally, written })
    // gc kept passing over the entry while it was worked on
    expect((yield* Ref.get(gc)).passes).toBeGreaterThan(slowMillis / 200 / 2)
    yield* stopWithin(fibers)
    return { counts, slowHandled: tally.counts.get(slow) ?? 0, rebalanced: (yield* Ref.get(gc)).Rebalance }
  })

layer(RedisTest.layer(), { excludeTestServices: true })("fault: a long-running handler under a running Gc.schedule", (it) => {
  it.scoped("with a heartbeat (200 ms) its entry is never handed to another consumer: handled once", () =>
    Effect.gen(function*() {
      const { counts, rebalanced, slowHandled } = yield* slowEntryUnderGc("200 millis")
      yield* report("long handler (2.5 s) with heartbeat 200 ms, gc rebalance idle 800 ms", counts)
      expect(rebalanced).toBe(0)
      expect(slowHandled).toBe(1)
      expect(counts.duplicated).toBe(0)
    }), 30_000)

  it.scoped("without a heartbeat gc hands it to the other consumer while it runs: handled twice (at-least-once)", () =>
    Effect.gen(function*() {
      const { counts, rebalanced, slowHandled } = yield* slowEntryUnderGc(undefined)
      yield* report("long handler (2.5 s) without heartbeat, gc rebalance idle 800 ms", counts)
      expect(rebalanced).toBeGreaterThan(0)
      expect(slowHandled).toBe(2)
      expect(counts.duplicated).toBeGreaterThanOrEqual(1)
    }), 30_000)
})
