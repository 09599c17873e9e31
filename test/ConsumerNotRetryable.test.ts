/**
 * The `retry` schedule sees the handler's error, as `Effect.retry`'s does:
 * an error it refuses (`Schedule.whileInput`) sends the entry to the
 * dead-letter stream at once with reason `NotRetryable`, while the errors it
 * takes wait their delay; across a restart the error is seen again at the
 * next failure.
 */
import { expect, layer } from "@effect/vitest"
import { Data, Effect, Fiber, Schedule } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Naming from "../src/Naming.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { Deliveries, eventually, pendingCount } from "./utils.js"

class Transient extends Data.TaggedError("Transient")<{ readonly n: number }> {}
class Fatal extends Data.TaggedError("Fatal")<{ readonly n: number }> {}
type Failure = Transient | Fatal

let counter = 0
const fresh = () => {
  const tag = `notretryable${++counter}`
  return { stream: `stream/{${tag}}jobs`, dlq: `stream/{${tag}}jobs-dlq`, group: `group/${tag}`, consumer: `consumer/${tag}/0` }
}

/** Up to 5 attempts, 300 ms apart, for the errors that may succeed later. */
const retryTransient: Schedule.Schedule<unknown, Failure> = Schedule.spaced("300 millis").pipe(
  Schedule.intersect(Schedule.recurs(4)),
  Schedule.whileInput((error: Failure) => error._tag === "Transient")
)

const numberOf = (message: Consumer.StreamMessage) => Number(message.fields["n"])

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Consumer.run: failures the retry schedule can see", (it) => {
  it.effect("an error the schedule refuses is dead-lettered at once (NotRetryable); one it takes waits and is retried", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const [, fatalId] = yield* Streams.xaddAll(names.stream, [{ n: 0 }, { n: 1 }, { n: 2 }])
      const attempts = new Deliveries<number>()
      const times: Array<number> = []
      const dead: Array<Consumer.ControlEvent> = []
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        retry: retryTransient,
        deadLetter: { stream: names.dlq },
        // 0 succeeds, 1 is fatal every time, 2 fails transiently twice, then succeeds
        handler: (message) =>
          Effect.suspend((): Effect.Effect<void, Failure> => {
            const n = numberOf(message)
            attempts.record(n)
            if (n === 2) times.push(Date.now())
            if (n === 1) return Effect.fail(new Fatal({ n }))
            if (n === 2 && (message.deliveries ?? 1) <= 2) return Effect.fail(new Transient({ n }))
            return Effect.void
          }),
        control: (event) =>
          Effect.sync(() => {
            if (event._tag === "DeadLettered") dead.push(event)
            return Consumer.Control.Recur()
          })
      }))
      yield* eventually(Effect.sync(() => expect(attempts.count(2)).toBe(3)), "10 seconds")
      yield* eventually(Effect.map(pendingCount(names.stream, names.group), (pending) => expect(pending).toBe(0)))
      yield* Fiber.interrupt(fiber)
      // the fatal one ran once
      expect(attempts.count(1)).toBe(1)
      const letters = yield* Gc.deadLetters(names.dlq)
      expect(letters).toHaveLength(1)
      expect(letters[0]).toMatchObject({ id: fatalId, reason: "NotRetryable", deliveries: 1, fields: { n: "1" } })
      expect(letters[0]!.error).toMatchObject({ tag: "Fatal", data: { n: 1 } })
      expect(dead).toEqual([expect.objectContaining({ _tag: "DeadLettered", id: fatalId, reason: "NotRetryable", dlq: names.dlq })])
      // the transient one waited its delay each time (kept in memory: the schedule reads its input)
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(300)
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(300)
    }))

  it.effect("without deadLetter, a NotRetryable entry goes to the stream's default dead-letter stream", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const [id] = yield* Streams.xaddAll(names.stream, [{ n: 7 }])
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        retry: retryTransient,
        handler: (message) => Effect.fail(new Fatal({ n: numberOf(message) }))
      }))
      const letters = yield* eventually(Effect.filterOrFail(Gc.deadLetters(Naming.dlqName(names.stream)), (all) => all.length === 1))
      yield* Fiber.interrupt(fiber)
      expect(letters[0]).toMatchObject({ id, reason: "NotRetryable" })
      expect(yield* pendingCount(names.stream, names.group)).toBe(0)
    }))

  it.effect("the error that arrives after a restart decides: a pending entry failing fatally then is dead-lettered at that failure", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const [id] = yield* Streams.xaddAll(names.stream, [{ n: 3 }])
      const deliveries: Array<number> = []
      const run = (error: (n: number) => Failure) =>
        Effect.fork(Consumer.run({
          ...names,
          block: "100 millis",
          retry: retryTransient,
          deadLetter: { stream: names.dlq },
          handler: (message) =>
            Effect.suspend(() => {
              deliveries.push(message.deliveries ?? 1)
              return Effect.fail(error(numberOf(message)))
            })
        }))
      // first a transient failure, and the consumer stops with the entry pending
      const first = yield* run((n) => new Transient({ n }))
      yield* eventually(Effect.sync(() => expect(deliveries).toEqual([1])))
      yield* Fiber.interrupt(first)
      expect(yield* pendingCount(names.stream, names.group)).toBe(1)
      // after the restart it is due at once, and this time the error is fatal
      const second = yield* run((n) => new Fatal({ n }))
      const letters = yield* eventually(Effect.filterOrFail(Gc.deadLetters(names.dlq), (all) => all.length === 1), "10 seconds")
      yield* Fiber.interrupt(second)
      expect(deliveries).toEqual([1, 2])
      expect(letters[0]).toMatchObject({ id, reason: "NotRetryable", deliveries: 2 })
    }))

  it.effect("when the count ends a schedule that took the error, the reason stays RetriesExhausted", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* Streams.xaddAll(names.stream, [{ n: 5 }])
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        retry: Schedule.spaced("20 millis").pipe(
          Schedule.intersect(Schedule.recurs(2)),
          Schedule.whileInput((error: Failure) => error._tag === "Transient")
        ),
        deadLetter: { stream: names.dlq },
        handler: (message) => Effect.fail(new Transient({ n: numberOf(message) }))
      }))
      const letters = yield* eventually(Effect.filterOrFail(Gc.deadLetters(names.dlq), (all) => all.length === 1), "10 seconds")
      yield* Fiber.interrupt(fiber)
      expect(letters[0]).toMatchObject({ reason: "RetriesExhausted", deliveries: 3 })
    }))
})
