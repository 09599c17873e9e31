import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Gc from "../src/Gc.js"
import { RedisTest } from "../src/testing/index.js"
import { age, consumers, createConsumer, handleOwnPending, idleLongerThan, names, pending, read, setup } from "./gcUtils.js"

layer(RedisTest.layer(), { excludeTestServices: true })("Gc.collect: the seed's scenarios", (it) => {
  it.effect("a bad message goes to the dead-letter stream after one delivery", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const [id] = yield* setup(stream, group, 1, { kind: "poison" })
      yield* read(stream, group, consumer(0), 10) // the handler fails: no ack
      const actions = yield* Gc.collect(stream, group, { dlq: { deliveries: 1, stream: dlq } })
      expect(actions).toEqual([Gc.GcAction.Dlq({ id: id!, consumer: consumer(0) })])
      expect(yield* pending(stream, group)).toEqual([])
      const [letter, ...rest] = yield* Gc.deadLetters(dlq)
      expect(rest).toEqual([])
      expect(letter).toMatchObject({ stream, group, consumer: consumer(0), id, deliveries: 1, fields: { n: "0", kind: "poison" } })
      expect(letter!.idle).toBeGreaterThanOrEqual(0)
    }))

  it.effect("ten messages of a dead consumer are rebalanced to the live one, which handles them; then the dead one is deregistered", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      const [dead, live] = [consumer(0), consumer(1)]
      const ids = yield* setup(stream, group, 10)
      expect((yield* read(stream, group, dead, 10)).length).toBe(10)
      yield* createConsumer(stream, group, live)
      yield* age(stream, group, dead, ids, 61_000)

      const actions = yield* Gc.collect(stream, group)
      expect(actions).toEqual(ids.map((id) => Gc.GcAction.Rebalance({ id, consumer: dead, claimant: live })))
      expect((yield* pending(stream, group)).map((p) => p.consumer)).toEqual(ids.map(() => live))
      expect(yield* handleOwnPending(stream, group, live)).toEqual(ids)
      expect(yield* pending(stream, group)).toEqual([])

      // the live consumer is busy with a new entry: it holds it pending, so it is never deregistered
      const [fresh] = yield* setup(stream, group, 1)
      yield* read(stream, group, live, 1)
      yield* idleLongerThan(stream, group, dead, 0)
      const after = yield* Gc.collect(stream, group, { deregister: { idle: 0 } })
      expect(after).toEqual([Gc.GcAction.Noop({ id: fresh!, consumer: live }), Gc.GcAction.Deregister({ consumer: dead })])
      expect((yield* consumers(stream, group)).map((c) => c.name)).toEqual([live])
    }))

  it.effect("a pass where no threshold is met leaves everything alone", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      const ids = yield* setup(stream, group, 3)
      yield* read(stream, group, consumer(0), 3)
      yield* createConsumer(stream, group, consumer(1))
      const before = yield* pending(stream, group)
      const actions = yield* Gc.collect(stream, group)
      expect(actions).toEqual(ids.map((id) => Gc.GcAction.Noop({ id, consumer: consumer(0) })))
      expect((yield* pending(stream, group)).map((p) => [p.id, p.consumer, p.deliveries])).toEqual(
        before.map((p) => [p.id, p.consumer, p.deliveries])
      )
      expect((yield* consumers(stream, group)).length).toBe(2)
    }))
})

layer(RedisTest.layer(), { excludeTestServices: true })("Gc.collect: order of the steps", (it) => {
  it.effect("an entry over both thresholds goes to the dead-letter stream, not to a sibling", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 2)
      yield* read(stream, group, consumer(0), 2)
      yield* read(stream, group, consumer(0), 2, "0") // delivered twice now
      yield* createConsumer(stream, group, consumer(1))
      yield* age(stream, group, consumer(0), [ids[0]!], 120_000)
      const actions = yield* Gc.collect(stream, group, {
        dlq: { idle: "100 seconds", stream: dlq },
        rebalance: { deliveries: 2 }
      })
      expect(actions).toEqual([
        Gc.GcAction.Dlq({ id: ids[0]!, consumer: consumer(0) }),
        Gc.GcAction.Rebalance({ id: ids[1]!, consumer: consumer(0), claimant: consumer(1) })
      ])
      expect((yield* Gc.deadLetters(dlq)).map((l) => l.id)).toEqual([ids[0]])
    }))

  it.effect("deregistration comes last: a consumer emptied by the pass is deregistered in the same pass", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 4)
      yield* read(stream, group, consumer(0), 2)
      yield* read(stream, group, consumer(1), 2)
      yield* read(stream, group, consumer(0), 2, "0")
      yield* age(stream, group, consumer(0), [ids[1]!], 120_000)
      yield* idleLongerThan(stream, group, consumer(0), 0)
      const actions = yield* Gc.collect(stream, group, {
        dlq: { deliveries: 2, stream: dlq },
        rebalance: { idle: "100 seconds", siblings: "all" },
        deregister: { idle: 0 }
      })
      expect(actions).toEqual([
        Gc.GcAction.Dlq({ id: ids[0]!, consumer: consumer(0) }),
        Gc.GcAction.Dlq({ id: ids[1]!, consumer: consumer(0) }),
        Gc.GcAction.Noop({ id: ids[2]!, consumer: consumer(1) }),
        Gc.GcAction.Noop({ id: ids[3]!, consumer: consumer(1) }),
        Gc.GcAction.Deregister({ consumer: consumer(0) })
      ])
    }))
})

layer(RedisTest.layer(), { excludeTestServices: true })("Gc.collect: deregistration", (it) => {
  it.effect("never deregisters a consumer that holds pending entries, however idle", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      const ids = yield* setup(stream, group, 2)
      yield* read(stream, group, consumer(0), 2)
      yield* age(stream, group, consumer(0), ids, 3_600_000)
      const actions = yield* Gc.collect(stream, group, { rebalance: false, dlq: false, deregister: { idle: 0 } })
      expect(actions).toEqual(ids.map((id) => Gc.GcAction.Noop({ id, consumer: consumer(0) })))
      expect((yield* consumers(stream, group)).map((c) => [c.name, c.pending])).toEqual([[consumer(0), 2]])
      expect((yield* pending(stream, group)).map((p) => p.id)).toEqual(ids)
    }))

  it.effect("with no other consumer, due entries stay with their owner (FailedRebalance)", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      const ids = yield* setup(stream, group, 2)
      yield* read(stream, group, consumer(0), 2)
      yield* age(stream, group, consumer(0), ids, 120_000)
      const actions = yield* Gc.collect(stream, group, { deregister: { idle: 0 } })
      expect(actions).toEqual(ids.map((id) => Gc.GcAction.FailedRebalance({ id, consumer: consumer(0) })))
      expect((yield* pending(stream, group)).map((p) => p.consumer)).toEqual([consumer(0), consumer(0)])
    }))

  it.effect("only consumers idle past deregister.idle are removed; false turns the step off", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      yield* setup(stream, group, 0)
      yield* createConsumer(stream, group, consumer(0))
      expect(yield* Gc.collect(stream, group, { deregister: { idle: "1 hour" } })).toEqual([])
      expect(yield* Gc.collect(stream, group, { deregister: false })).toEqual([])
      expect(yield* Gc.collect(stream, group)).toEqual([]) // the default: 10 minutes
      expect((yield* consumers(stream, group)).length).toBe(1)
      yield* idleLongerThan(stream, group, consumer(0), 0)
      const planned = yield* Gc.collect(stream, group, { deregister: { idle: 0 }, dryRun: true })
      expect(planned).toEqual([Gc.GcAction.Deregister({ consumer: consumer(0) })])
      expect((yield* consumers(stream, group)).length).toBe(1)
      expect(yield* Gc.collect(stream, group, { deregister: { idle: 0 } })).toEqual([Gc.GcAction.Deregister({ consumer: consumer(0) })])
      expect(yield* consumers(stream, group)).toEqual([])
    }))
})
