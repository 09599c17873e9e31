/**
 * One bad handler stops nothing but its entry: a handler that throws instead
 * of returning an Effect fails that entry (retried, dead-lettered) and the
 * consumer goes on; in `layerGroup` a consumer that dies of a defect is
 * restarted; `timeout` ends a hung handler with `HandlerTimeout`; a stop
 * interrupts handlers still running past `shutdownTimeout`; acks of handled
 * entries do not wait for a slow batch; a heartbeating entry is never
 * claimed by a sibling.
 */
import { expect, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Fiber, Layer, Option, Schedule } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { commandCalls, connectionNames, Deliveries, eventually, pendingCount, pendingEntries } from "./utils.js"

let counter = 0
const fresh = () => {
  const tag = `handlers${++counter}`
  return { stream: `stream/{${tag}}jobs`, dlq: `stream/{${tag}}jobs-dlq`, group: `group/${tag}`, consumer: `consumer/${tag}/0`, tag }
}

/** `n` entries `{ n: i, body }`; entry `bad` has a body that is not JSON. */
const write = (stream: string, n: number, bad = -1) =>
  Streams.xaddAll(stream, Array.from({ length: n }, (_, i) => ({ n: i, body: i === bad ? "{not json" : JSON.stringify({ i }) })))

const parses = (body: string | undefined) => {
  // deliberately before the Effect: a synchronous throw
  const parsed = JSON.parse(body ?? "") as { readonly i: number }
  return Effect.succeed(parsed.i)
}

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Consumer: one bad handler stops only its entry", (it) => {
  it.effect("a handler that throws fails its entry, which is retried and dead-lettered; the consumer goes on", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 20, 3)
      const handled = new Deliveries<number>()
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        retry: Schedule.recurs(1),
        deadLetter: { stream: names.dlq },
        handler: (message) => Effect.tap(parses(message.fields["body"]), (i) => Effect.sync(() => handled.record(i)))
      }))
      yield* eventually(Effect.sync(() => expect(handled.size).toBe(19)))
      const letters = yield* eventually(Effect.filterOrFail(Gc.deadLetters(names.dlq), (all) => all.length === 1))
      expect(letters[0]!.fields).toMatchObject({ n: "3" })
      expect(yield* pendingCount(names.stream, names.group)).toBe(0)
      // still running: a new entry is handled
      yield* Streams.xaddMap(names.stream, "*", { n: 100, body: JSON.stringify({ i: 100 }) })
      yield* eventually(Effect.sync(() => expect(handled.has(100)).toBe(true)))
      expect(fiber.unsafePoll()).toBe(null)
      expect(handled.twice).toEqual([])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("layerGroup with self-claim: one throwing entry kills no consumer; it is dead-lettered, the rest handled", () =>
    Effect.gen(function*() {
      const names = fresh()
      const handled = new Deliveries<number>()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Consumer.layerGroup({
          stream: names.stream,
          group: names.group,
          name: `consumer/${names.tag}`,
          consumers: 3,
          block: "100 millis",
          create: { from: "0" },
          gc: false,
          claim: { idle: "200 millis" },
          retry: Schedule.recurs(2),
          deadLetter: { stream: names.dlq },
          handler: (message) => Effect.tap(parses(message.fields["body"]), (i) => Effect.sync(() => handled.record(i)))
        }))
        yield* write(names.stream, 100, 42)
        yield* eventually(Effect.sync(() => expect(handled.size).toBe(99)), "20 seconds")
        yield* eventually(Effect.filterOrFail(Gc.deadLetters(names.dlq), (all) => all.length === 1), "20 seconds")
        yield* eventually(Effect.filterOrFail(pendingCount(names.stream, names.group), (n) => n === 0))
        expect(handled.twice).toEqual([])
        const open = (yield* connectionNames).filter((name) => name.startsWith(`consumer/${names.tag}/`))
        expect(open.sort()).toEqual([0, 1, 2].map((i) => `consumer/${names.tag}/${i}`))
      }))
    }))

  it.effect("layerGroup restarts a consumer that died of a defect (a control function that throws)", () =>
    Effect.gen(function*() {
      const names = fresh()
      const handled = new Deliveries<number>()
      let thrown = 0
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Consumer.layerGroup({
          stream: names.stream,
          group: names.group,
          block: "100 millis",
          create: { from: "0" },
          gc: false,
          handler: (message) => Effect.sync(() => handled.record(Number(message.fields["n"]))),
          control: (event) => {
            if (event._tag === "Handled" && thrown++ === 0) throw new Error("a bug in the control function")
            return Effect.succeed(Consumer.Control.Recur())
          }
        }))
        yield* write(names.stream, 10)
        yield* eventually(Effect.sync(() => expect(handled.size).toBe(10)), "10 seconds")
        expect(thrown).toBeGreaterThan(1)
        // the consumer died of the defect after handling and acking one entry (acks are flushed on the way out): none twice
        expect(handled.twice).toEqual([])
        yield* eventually(Effect.filterOrFail(pendingCount(names.stream, names.group), (n) => n === 0))
      }))
    }))

  it.effect("timeout: a hung handler fails with HandlerTimeout, goes through retry and the dead-letter stream", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 10)
      const handled = new Deliveries<number>()
      const failures: Array<unknown> = []
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        timeout: "200 millis",
        retry: Schedule.recurs(1),
        deadLetter: { stream: names.dlq },
        handler: (message) => message.fields["n"] === "4" ? Effect.never : Effect.sync(() => handled.record(Number(message.fields["n"]))),
        control: (event) =>
          Effect.sync(() => {
            if (event._tag === "HandlerFailed") failures.push(Option.getOrUndefined(Cause.failureOption(event.cause)))
            return Consumer.Control.Recur()
          })
      }))
      yield* eventually(Effect.sync(() => expect(handled.size).toBe(9)))
      yield* eventually(Effect.filterOrFail(Gc.deadLetters(names.dlq), (all) => all.length === 1))
      expect(failures).toHaveLength(2)
      expect(handled.twice).toEqual([])
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(Consumer.HandlerTimeout)
        expect(failure).toMatchObject({ _tag: "HandlerTimeout", stream: names.stream, timeout: 200 })
      }
      expect(yield* pendingCount(names.stream, names.group)).toBe(0)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("acks of handled entries go out while the batch is still being handled; a stop interrupts a hung handler past shutdownTimeout", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 10)
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        shutdownTimeout: "300 millis",
        handler: (message) => message.fields["n"] === "5" ? Effect.zipRight(Deferred.succeed(started, undefined), Effect.never) : Effect.void
      }))
      yield* Deferred.await(started)
      // entries 0-4 were handled: acked although their batch (and the read that would carry the acks) is stuck at 5
      yield* eventually(Effect.filterOrFail(pendingEntries(names.stream, names.group), (rows) => rows.length === 5))
      expect((yield* pendingEntries(names.stream, names.group)).map((row) => row.id)).toEqual(
        (yield* Streams.read(names.stream)).slice(5).map((entry) => entry.id)
      )
      // a graceful stop waits shutdownTimeout for the hung handler, then interrupts it: the run ends
      yield* Fiber.interrupt(fiber)
      expect(yield* pendingCount(names.stream, names.group)).toBe(5)
    }))

  it.effect("with heartbeat, self-claiming siblings never take an entry whose handler is still running", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* write(names.stream, 1)
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const seenBySibling: Array<string> = []
      const slow = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        heartbeat: "100 millis",
        claim: { idle: "400 millis" },
        handler: () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release))
      }))
      yield* Deferred.await(started)
      const claimsBefore = yield* commandCalls("XAUTOCLAIM")
      const sibling = yield* Effect.fork(Consumer.run({
        ...names,
        consumer: `${names.consumer}-sibling`,
        block: "100 millis",
        claim: { idle: "400 millis", every: "100 millis" },
        handler: (message) => Effect.sync(() => seenBySibling.push(message.id))
      }))
      // the sibling's self-claim steps run over more than twice the idle threshold
      yield* eventually(Effect.filterOrFail(commandCalls("XAUTOCLAIM"), (n) => n >= claimsBefore + 10), "10 seconds")
      expect(seenBySibling).toEqual([])
      expect((yield* pendingEntries(names.stream, names.group)).map((row) => [row.consumer, row.deliveries])).toEqual([[names.consumer, 1]])
      yield* Deferred.succeed(release, undefined)
      yield* eventually(Effect.filterOrFail(pendingCount(names.stream, names.group), (n) => n === 0))
      yield* Fiber.interrupt(sibling)
      yield* Fiber.interrupt(slow)
    }))

  it.effect("refuses a heartbeat not shorter than claim.idle, and bad timeouts", () =>
    Effect.gen(function*() {
      const names = fresh()
      const refused = (options: Partial<Consumer.Options<void, never, never, never, never>>) =>
        Effect.flip(Consumer.run({ ...names, handler: () => Effect.void, ...options } as Consumer.Options<void, never, never, never, never> & Consumer.StreamChoice))
      expect(yield* refused({ heartbeat: "1 second", claim: { idle: "1 second" } })).toMatchObject({
        reason: "InvalidArgument",
        message: expect.stringMatching(/heartbeat .* shorter than claim.idle/)
      })
      expect(yield* refused({ timeout: 0 })).toMatchObject({ reason: "InvalidArgument", message: expect.stringMatching(/timeout/) })
      expect(yield* refused({ shutdownTimeout: "forever" as never })).toMatchObject({ reason: "InvalidArgument" })
    }))
})
