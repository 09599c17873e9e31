/**
 * Self-claim against a real server: a consumer claims the idle entries of a
 * dead sibling with no gc running, counts the ones deleted while pending
 * (XAUTOCLAIM's third reply element), and dead-letters those delivered past
 * `claim.deadLetter.deliveries` instead of handling them.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Metric, MetricLabel, Ref } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import { age, read } from "./gcUtils.js"
import { addEntries, eventually, pendingCount } from "./utils.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

let counter = 0
const fresh = () => {
  const tag = `claim${++counter}`
  return { stream: `stream/{${tag}}jobs`, dlq: `stream/{${tag}}dlq`, group: `group/${tag}`, dead: `consumer/${tag}/dead`, live: `consumer/${tag}/live` }
}

const counterOf = (metric: Metric.Metric.Counter<number>, stream: string, group: string) =>
  Effect.map(Metric.value(metric.pipe(Metric.taggedWithLabels([MetricLabel.make("stream", stream), MetricLabel.make("group", group)]))), (s) => s.count)

/** `n` entries delivered to a consumer that died holding them, made to look idle for a minute. */
const deadHolding = (stream: string, group: string, dead: string, n: number, times = 1) =>
  Effect.gen(function*() {
    yield* Groups.create(stream, group, { from: "0" })
    const ids = yield* addEntries(stream, n)
    yield* read(stream, group, dead, n)
    for (let i = 1; i < times; i++) yield* read(stream, group, dead, n, "0")
    yield* age(stream, group, dead, ids, 60_000)
    return ids
  })

/** Runs a self-claiming consumer that records what it handled and every control event's tag. */
const selfClaiming = (stream: string, group: string, consumer: string, claim: Consumer.ClaimOptions) =>
  Effect.gen(function*() {
    const handled = yield* Ref.make<ReadonlyArray<{ readonly id: string; readonly deliveries: number }>>([])
    const events = yield* Ref.make<ReadonlyArray<Consumer.ControlEvent>>([])
    const fiber = yield* Effect.fork(Consumer.run({
      stream,
      group,
      consumer,
      block: "100 millis",
      claim,
      handler: (message) => Ref.update(handled, (all) => [...all, { id: message.id, deliveries: message.deliveries ?? 1 }]),
      control: (event) => Effect.as(Ref.update(events, (all) => [...all, event]), Consumer.Control.Recur())
    }))
    return { fiber, handled, events }
  })

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Consumer.run with claim", (it) => {
  it.effect("claims a dead consumer's idle entries and handles them, with no gc running", () =>
    Effect.gen(function*() {
      const { dead, group, live, stream } = fresh()
      const ids = yield* deadHolding(stream, group, dead, 120)
      const { events, fiber, handled } = yield* selfClaiming(stream, group, live, { idle: "30 seconds", count: 50 })
      yield* eventually(Effect.flatMap(pendingCount(stream, group), (n) => (n === 0 ? Effect.void : Effect.fail(n))), "10 seconds")
      yield* Fiber.interrupt(fiber)
      const got = yield* Ref.get(handled)
      expect(got.map((h) => h.id).sort()).toEqual([...ids].sort())
      expect(got.every((h) => h.deliveries === 2)).toBe(true)
      const claimed = (yield* Ref.get(events)).filter((e) => e._tag === "Claimed")
      expect(claimed.flatMap((e) => (e._tag === "Claimed" ? e.ids : [])).sort()).toEqual([...ids].sort())
      expect(yield* counterOf(Consumer.metrics.claimed, stream, group)).toBe(120)
    }))

  it.effect("leaves entries idle for less than claim.idle alone", () =>
    Effect.gen(function*() {
      const { dead, group, live, stream } = fresh()
      yield* Groups.create(stream, group, { from: "0" })
      yield* addEntries(stream, 3)
      yield* read(stream, group, dead, 3)
      const { fiber, handled } = yield* selfClaiming(stream, group, live, { idle: "1 hour", every: "50 millis" })
      // a fresh entry is handled: the consumer has been through its reads (and self-claim steps) since
      yield* addEntries(stream, 1, 100)
      yield* eventually(Effect.flatMap(Ref.get(handled), (all) => (all.length === 1 ? Effect.void : Effect.fail(all.length))))
      yield* Fiber.interrupt(fiber)
      expect(yield* pendingCount(stream, group, dead)).toBe(3)
    }))

  it.effect("counts entries deleted while pending as trimmed (XAUTOCLAIM's deleted ids) and never hands them to the handler", () =>
    Effect.gen(function*() {
      const { dead, group, live, stream } = fresh()
      const ids = yield* deadHolding(stream, group, dead, 10)
      yield* send("XDEL", [stream, ...ids.slice(0, 4)])
      const { fiber, handled } = yield* selfClaiming(stream, group, live, { idle: "30 seconds" })
      yield* eventually(Effect.flatMap(pendingCount(stream, group), (n) => (n === 0 ? Effect.void : Effect.fail(n))))
      yield* Fiber.interrupt(fiber)
      expect((yield* Ref.get(handled)).map((h) => h.id)).toEqual(ids.slice(4))
      expect(yield* counterOf(Consumer.metrics.trimmed, stream, group)).toBe(4)
    }))

  it.effect("dead-letters claimed entries delivered past claim.deadLetter.deliveries, with the same script gc uses", () =>
    Effect.gen(function*() {
      const { dead, dlq, group, live, stream } = fresh()
      // delivered three times to the dead consumer
      const poison = yield* deadHolding(stream, group, dead, 2, 3)
      const fine = yield* addEntries(stream, 2, 50)
      yield* read(stream, group, dead, 2)
      yield* age(stream, group, dead, fine, 60_000)
      const { events, fiber, handled } = yield* selfClaiming(stream, group, live, {
        idle: "30 seconds",
        deadLetter: { deliveries: 3, stream: dlq }
      })
      yield* eventually(Effect.flatMap(pendingCount(stream, group), (n) => (n === 0 ? Effect.void : Effect.fail(n))))
      yield* Fiber.interrupt(fiber)
      expect((yield* Ref.get(handled)).map((h) => h.id)).toEqual(fine)
      const letters = yield* Gc.deadLetters(dlq)
      expect(letters.map((l) => l.id)).toEqual(poison)
      expect(letters[0]).toMatchObject({ stream, group, consumer: live, deliveries: 3, fields: { n: "0" } })
      const deadLettered = (yield* Ref.get(events)).filter((e) => e._tag === "DeadLettered")
      expect(deadLettered).toHaveLength(2)
      expect(deadLettered[0]).toMatchObject({ reason: "Claimed", dlq, deliveries: 3 })
      expect(yield* counterOf(Consumer.metrics.deadLettered, stream, group)).toBe(2)
    }))
})
