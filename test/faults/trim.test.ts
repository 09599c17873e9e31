import { expect, layer } from "@effect/vitest"
import { Effect, Metric, MetricLabel, Ref } from "effect"
import * as Consumer from "../../src/Consumer.js"
import * as Gc from "../../src/Gc.js"
import * as Redis from "../../src/Redis.js"
import { RedisTest } from "../../src/testing/index.js"
import { read } from "../gcUtils.js"
import { addEntries, eventually, pendingCount } from "../utils.js"
import { freshGroup, quietControl, recording, report, settled, startConsumers, startGc, stopWithin, Tally } from "./utils.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

const trimmedCount = (stream: string, group: string) =>
  Effect.map(
    Metric.value(Consumer.metrics.trimmed.pipe(
      Metric.taggedWithLabels([MetricLabel.make("stream", stream), MetricLabel.make("group", group)])
    )),
    (state) => state.count
  )

/** XTRIM MINID to `ids[20]`, then MAXLEN to 15 of the 30 left: `ids[0..34]` are gone. */
const trimTo35 = (stream: string, ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    expect(Number(yield* send("XTRIM", [stream, "MINID", ids[20]!]))).toBe(20)
    expect(Number(yield* send("XTRIM", [stream, "MAXLEN", 15]))).toBe(15)
    return new Set(ids.slice(0, 35))
  })

/** 50 entries read by a consumer that died without acking them, then 35 of them trimmed. */
const deadConsumerTrimmed = Effect.gen(function*() {
  const fresh = yield* freshGroup
  const ids = yield* addEntries(fresh.stream, 50)
  expect(yield* read(fresh.stream, fresh.group, `consumer/${fresh.stream}/dead`, 50)).toHaveLength(50)
  return { ...fresh, ids, trimmed: yield* trimTo35(fresh.stream, ids) }
})

layer(RedisTest.layer(), { excludeTestServices: true })("fault: entries trimmed (MINID, MAXLEN) while pending", (it) => {
  it.scoped("in a live consumer's pending list: acked and counted as trimmed, never handed to the handler", () =>
    Effect.gen(function*() {
      const { dlq, group, stream } = yield* freshGroup
      const ids = yield* addEntries(stream, 50)
      const tally = new Tally()
      let failing = true
      const fibers = yield* startConsumers(1, {
        stream,
        group,
        block: 100,
        control: quietControl,
        handler: recording(tally, () => failing ? Effect.fail("not yet") : Effect.void)
      })
      yield* startGc(stream, group, { rebalance: { idle: "10 seconds" }, dlq: { deliveries: 1_000, stream: dlq } }, "200 millis")
      // all 50 delivered and failed: pending
      yield* eventually(Effect.map(pendingCount(stream, group), (n) => expect(n).toBe(50)))
      const trimmed = yield* trimTo35(stream, ids)
      failing = false
      const later = yield* addEntries(stream, 10, 50)
      const counts = yield* settled({ stream, group, dlq, tally, written: [...ids, ...later], trimmed })
      yield* stopWithin(fibers)
      yield* report("trimmed while pending in a live consumer", counts)
      expect([...tally.counts.keys()].filter((id) => trimmed.has(id))).toEqual([])
      expect(counts.handled).toBe(25)
      expect(yield* trimmedCount(stream, group)).toBe(35)
    }), 60_000)

  it.scoped("in a dead consumer's pending list: gc hands the others to a live consumer, none stays pending", () =>
    Effect.gen(function*() {
      const { dlq, group, ids, stream, trimmed } = yield* deadConsumerTrimmed
      const tally = new Tally()
      const fibers = yield* startConsumers(1, { stream, group, block: 100, handler: recording(tally) })
      const gc = yield* startGc(stream, group, { rebalance: { idle: "300 millis" }, dlq: { deliveries: 10, stream: dlq } }, "200 millis")
      const counts = yield* settled({ stream, group, dlq, tally, written: ids, trimmed })
      yield* stopWithin(fibers)
      yield* report("trimmed while pending in a dead consumer (gc rebalance)", counts)
      expect(counts).toMatchObject({ handled: 15, deadLettered: 0 })
      // Redis >= 7 drops trimmed entries from the pending list when gc XCLAIMs
      // them (so the live consumer never sees them); older servers hand them
      // over and the consumer acks them as trimmed. Either way none is pending.
      const rebalanced = (yield* Ref.get(gc)).Rebalance
      expect(rebalanced).toBeGreaterThanOrEqual(15)
      expect(rebalanced + (yield* trimmedCount(stream, group))).toBeLessThanOrEqual(50)
    }), 60_000)

  it.scoped("dead-lettered by gc after trimming: the letter keeps the metadata, with no message", () =>
    Effect.gen(function*() {
      const { dlq, group, ids, stream, trimmed } = yield* deadConsumerTrimmed
      const actions = yield* Gc.collect(stream, group, { rebalance: false, dlq: { idle: 0, stream: dlq } })
      expect(actions.filter((action) => action._tag === "Dlq")).toHaveLength(50)
      const counts = yield* settled({ stream, group, dlq, tally: new Tally(), written: ids })
      yield* report("trimmed while pending, then dead-lettered by gc", { ...counts, trimmed: trimmed.size })
      const letters = yield* Gc.deadLetters(dlq, { stream, group })
      expect(letters.filter((letter) => letter.fields === null).map((letter) => letter.id)).toEqual(ids.slice(0, 35))
    }), 60_000)
})
