/**
 * `handleBatch`: a whole read at once. Its success acks every entry of the
 * batch; its failure fails every entry (retried and dead-lettered one by
 * one); a `partialFailure` fails the entries it names and acks the rest. A
 * throwing or hung batch handler stops only its batch, a stop lets a
 * running batch finish, and `concurrency` other than 1 is refused.
 */
import { expect, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Schedule } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { Deliveries, eventually, pendingCount } from "./utils.js"

let counter = 0
const fresh = () => {
  const tag = `batch${++counter}`
  return { stream: `stream/{${tag}}jobs`, dlq: `stream/{${tag}}jobs-dlq`, group: `group/${tag}`, consumer: `consumer/${tag}/0`, tag }
}

const write = (stream: string, n: number) => Streams.xaddAll(stream, Array.from({ length: n }, (_, i) => ({ n: i })))

const numberOf = (message: Consumer.StreamMessage) => Number(message.fields["n"])

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Consumer.run with handleBatch", (it) => {
  it.effect("gets each read as one batch of up to count entries, and acks them all when it succeeds", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 250)
      const handled = new Deliveries<number>()
      const sizes: Array<number> = []
      const order: Array<number> = []
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        count: 100,
        handleBatch: (messages) =>
          Effect.sync(() => {
            sizes.push(messages.length)
            for (const message of messages) {
              handled.record(numberOf(message))
              order.push(numberOf(message))
            }
          })
      }))
      yield* eventually(Effect.sync(() => expect(handled.size).toBe(250)))
      yield* eventually(Effect.map(pendingCount(names.stream, names.group), (pending) => expect(pending).toBe(0)))
      expect(handled.twice).toEqual([])
      expect(sizes.every((size) => size >= 1 && size <= 100)).toBe(true)
      expect(sizes.length).toBeLessThan(250)
      // the batches kept the stream's order
      expect(order).toEqual(Array.from({ length: 250 }, (_, i) => i))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a failed batch fails every entry: each is retried, then dead-lettered with its reason and error", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 5)
      const attempts = new Deliveries<number>()
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        retry: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(1))),
        deadLetter: { stream: names.dlq },
        handleBatch: (messages) =>
          Effect.zipRight(
            Effect.sync(() => messages.forEach((message) => attempts.record(numberOf(message)))),
            Effect.fail("the database is down")
          )
      }))
      const letters = yield* eventually(Effect.filterOrFail(Gc.deadLetters(names.dlq), (all) => all.length === 5))
      expect(letters.map((letter) => letter.reason)).toEqual(Array(5).fill("RetriesExhausted"))
      expect(letters.map((letter) => letter.error?.message)).toEqual(Array(5).fill("the database is down"))
      expect([...letters].map((letter) => Number(letter.fields?.["n"])).sort()).toEqual([0, 1, 2, 3, 4])
      // two attempts each: the first and one retry
      for (let i = 0; i < 5; i++) expect(attempts.count(i)).toBe(2)
      expect(yield* pendingCount(names.stream, names.group)).toBe(0)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a partialFailure fails only the entries it names; the rest are acked once", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 10)
      const attempts = new Deliveries<number>()
      const events: Array<string> = []
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        retry: Schedule.spaced("50 millis"),
        handleBatch: (messages) =>
          Effect.sync(() => {
            messages.forEach((message) => attempts.record(numberOf(message)))
            // 3 and 7 fail on their first delivery
            const failed = messages.filter((message) => [3, 7].includes(numberOf(message)) && message.deliveries === 1)
            return failed.length === 0 ? undefined : Consumer.partialFailure(failed.map((message) => ({ message, error: `bad ${numberOf(message)}` })))
          }),
        control: (event) =>
          Effect.sync(() => {
            if (event._tag === "HandlerFailed") events.push(`failed ${numberOf(event.message)}: ${Cause.squash(event.cause)}`)
            return Consumer.Control.Recur()
          })
      }))
      yield* eventually(Effect.sync(() => expect(attempts.size).toBe(10)))
      yield* eventually(Effect.sync(() => {
        expect(attempts.count(3)).toBe(2)
        expect(attempts.count(7)).toBe(2)
      }))
      yield* eventually(Effect.map(pendingCount(names.stream, names.group), (pending) => expect(pending).toBe(0)))
      for (const i of [0, 1, 2, 4, 5, 6, 8, 9]) expect(attempts.count(i)).toBe(1)
      expect(events).toEqual(["failed 3: bad 3", "failed 7: bad 7"])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a batch handler that throws fails its batch; the consumer goes on with the next", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 3)
      const handled = new Deliveries<number>()
      let thrown = 0
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        retry: Schedule.spaced("50 millis"),
        handleBatch: (messages) => {
          if (thrown++ === 0) throw new Error("a bug before the Effect")
          return Effect.sync(() => messages.forEach((message) => handled.record(numberOf(message))))
        }
      }))
      yield* eventually(Effect.sync(() => expect(handled.size).toBe(3)))
      yield* Streams.xaddMap(names.stream, "*", { n: 3 })
      yield* eventually(Effect.sync(() => expect(handled.has(3)).toBe(true)))
      expect(handled.twice).toEqual([])
      expect(fiber.unsafePoll()).toBe(null)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("timeout bounds the batch: a hung batch fails with HandlerTimeout naming its first entry", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const [first] = yield* write(names.stream, 4)
      const failures: Array<unknown> = []
      const handled = new Deliveries<number>()
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        timeout: "200 millis",
        retry: Schedule.spaced("50 millis"),
        handleBatch: (messages) =>
          messages[0]!.deliveries === 1
            ? Effect.never
            : Effect.sync(() => messages.forEach((message) => handled.record(numberOf(message)))),
        control: (event) =>
          Effect.sync(() => {
            if (event._tag === "HandlerFailed") failures.push(Cause.squash(event.cause))
            return Consumer.Control.Recur()
          })
      }))
      yield* eventually(Effect.sync(() => expect(handled.size).toBe(4)))
      expect(failures).toHaveLength(4)
      expect(failures.every((failure) => failure instanceof Consumer.HandlerTimeout && failure.id === first)).toBe(true)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a stop lets the running batch finish and acks it", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 20)
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const handled = new Deliveries<number>()
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        handleBatch: (messages) =>
          Effect.gen(function*() {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(release)
            messages.forEach((message) => handled.record(numberOf(message)))
          })
      }))
      yield* Deferred.await(started)
      const stopping = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(stopping)
      expect(handled.size).toBe(20)
      expect(yield* pendingCount(names.stream, names.group)).toBe(0)
    }))

  it.effect("the control's Exit after a handled batch ends the run with its value", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 5)
      const seen: Array<number> = []
      const result = yield* Consumer.run({
        ...names,
        block: "100 millis",
        handleBatch: () => Effect.void,
        control: (event) =>
          Effect.sync(() => {
            if (event._tag === "Handled") seen.push(numberOf(event.message))
            return event._tag === "Handled" && seen.length === 2 ? Consumer.Control.Exit() : Consumer.Control.Recur()
          })
      }).pipe(Effect.exit)
      expect(Exit.isSuccess(result)).toBe(true)
      expect(seen).toEqual([0, 1])
      // the entries after the one that exited were not acked: they stay pending
      expect(yield* pendingCount(names.stream, names.group)).toBe(3)
    }))

  it.effect("refuses concurrency other than 1, and handler with handleBatch does not type-check", () =>
    Effect.gen(function*() {
      const names = fresh()
      const error = yield* Consumer.run({ ...names, concurrency: 4, handleBatch: () => Effect.void }).pipe(Effect.flip)
      expect(error.reason).toBe("InvalidArgument")
      expect(error.message).toMatch(/handleBatch handles one batch at a time: concurrency must be 1, not 4/)
      const both = () =>
        // @ts-expect-error exactly one of handler and handleBatch
        Consumer.run({ ...names, handler: () => Effect.void, handleBatch: () => Effect.void })
      expect(typeof both).toBe("function")
    }))

  it.effect("layerGroup takes handleBatch too", () =>
    Effect.gen(function*() {
      const names = fresh()
      const handled = new Deliveries<number>()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Consumer.layerGroup({
          stream: names.stream,
          group: names.group,
          name: `consumer/${names.tag}`,
          consumers: 2,
          block: "100 millis",
          gc: false,
          handleBatch: (messages) => Effect.sync(() => messages.forEach((message) => handled.record(numberOf(message))))
        }))
        yield* write(names.stream, 300)
        yield* eventually(Effect.sync(() => expect(handled.size).toBe(300)))
      }))
      expect(handled.twice).toEqual([])
    }))
})
