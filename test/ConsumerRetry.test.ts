/**
 * Retry with backoff against a real server: a failed entry is not handled
 * again before its schedule's delay (measured between attempts, and across
 * a restart of the consumer, where only XPENDING knows), other entries go
 * on meanwhile in order, and when the schedule ends the entry goes to the
 * dead-letter stream, or stays pending when there is none.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Logger, Ref, Schedule } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import * as Replies from "../src/internal/redis/replies.js"
import { addEntries, eventually, pendingCount } from "./utils.js"

let counter = 0
const fresh = () => {
  const tag = `retry${++counter}`
  return { stream: `stream/{${tag}}jobs`, dlq: `stream/{${tag}}dlq`, group: `group/${tag}`, consumer: `consumer/${tag}/0` }
}

const pendingOf = (stream: string, group: string) =>
  Effect.flatMap(Effect.flatMap(Redis.Redis, (redis) => redis.send("XPENDING", [stream, group, "-", "+", 100])), Replies.pendingEntries)

interface Attempt {
  readonly n: string
  readonly deliveries: number
  readonly at: number
}

/**
 * A consumer whose handler fails for the entries in `failing` every time
 * (or only their first `failures` deliveries), recording every attempt.
 */
const consumer = (
  names: ReturnType<typeof fresh>,
  options: {
    readonly retry: Schedule.Schedule<unknown, unknown>
    readonly failing: ReadonlySet<string>
    readonly failures?: number
    readonly deadLetter?: Consumer.ConsumerDeadLetter
    readonly attempts: Ref.Ref<ReadonlyArray<Attempt>>
    readonly events?: Ref.Ref<ReadonlyArray<Consumer.ControlEvent>>
  }
) =>
  Effect.fork(Consumer.run({
    stream: names.stream,
    group: names.group,
    consumer: names.consumer,
    block: "2 seconds",
    retry: options.retry,
    deadLetter: options.deadLetter,
    handler: (message) =>
      Effect.gen(function*() {
        const n = message.fields["n"]!
        yield* Ref.update(options.attempts, (all) => [...all, { n, deliveries: message.deliveries ?? 1, at: Date.now() }])
        if (options.failing.has(n) && (message.deliveries ?? 1) <= (options.failures ?? Infinity)) yield* Effect.fail(`poison ${n}`)
      }),
    control: (event) =>
      Effect.as(options.events === undefined ? Effect.void : Ref.update(options.events, (all) => [...all, event]), Consumer.Control.Recur())
  }))

const attemptsOf = (attempts: ReadonlyArray<Attempt>, n: string) => attempts.filter((a) => a.n === n)

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Consumer.run with retry", (it) => {
  it.effect("waits the schedule's delay for each delivery before the next, and goes on with the other entries in order meanwhile", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* addEntries(names.stream, 4)
      const attempts = yield* Ref.make<ReadonlyArray<Attempt>>([])
      const events = yield* Ref.make<ReadonlyArray<Consumer.ControlEvent>>([])
      const fiber = yield* consumer(names, { retry: Schedule.exponential("400 millis"), failing: new Set(["1"]), failures: 2, attempts, events })
      const all = yield* eventually(
        Effect.filterOrFail(Ref.get(attempts), (all) => attemptsOf(all, "1").length === 3, () => "not yet"),
        "15 seconds"
      )
      yield* eventually(Effect.flatMap(pendingCount(names.stream, names.group), (n) => (n === 0 ? Effect.void : Effect.fail(n))))
      yield* Fiber.interrupt(fiber)
      // the others, in order, right after the first failure
      expect(all.slice(0, 4).map((a) => a.n)).toEqual(["0", "1", "2", "3"])
      const [first, second, third] = attemptsOf(all, "1")
      expect([first!.deliveries, second!.deliveries, third!.deliveries]).toEqual([1, 2, 3])
      // 400 ms after the first failure, 800 ms after the second (never sooner)
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(400)
      expect(third!.at - second!.at).toBeGreaterThanOrEqual(800)
      const scheduled = (yield* Ref.get(events)).filter((e) => e._tag === "RetryScheduled")
      expect(scheduled.map((e) => (e._tag === "RetryScheduled" ? e.delay : undefined)).map(String)).toEqual(["Duration(400ms)", "Duration(800ms)"])
    }))

  it.effect("keeps the delay across a restart of the consumer: it is read from XPENDING, not memory", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* addEntries(names.stream, 1)
      const attempts = yield* Ref.make<ReadonlyArray<Attempt>>([])
      const retry = Schedule.spaced("1500 millis")
      const first = yield* consumer(names, { retry, failing: new Set(["0"]), failures: 1, attempts })
      yield* eventually(Effect.filterOrFail(Ref.get(attempts), (all) => all.length === 1, () => "not yet"))
      yield* Fiber.interrupt(first)
      const failedAt = (yield* Ref.get(attempts))[0]!.at
      // a new consumer of the same name, started at once, must still wait
      const second = yield* consumer(names, { retry, failing: new Set(["0"]), failures: 1, attempts })
      const all = yield* eventually(Effect.filterOrFail(Ref.get(attempts), (all) => all.length === 2, () => "not yet"), "10 seconds")
      yield* Fiber.interrupt(second)
      expect(all[1]!.deliveries).toBe(2)
      expect(all[1]!.at - failedAt).toBeGreaterThanOrEqual(1500)
      expect(yield* pendingCount(names.stream, names.group)).toBe(0)
    }))

  it.effect("when the schedule ends, the entry goes to the dead-letter stream (DeadLettered, RetriesExhausted)", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const [id] = yield* addEntries(names.stream, 1)
      const attempts = yield* Ref.make<ReadonlyArray<Attempt>>([])
      const events = yield* Ref.make<ReadonlyArray<Consumer.ControlEvent>>([])
      const retry = Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
      const fiber = yield* consumer(names, { retry, failing: new Set(["0"]), deadLetter: { stream: names.dlq }, attempts, events })
      yield* eventually(Effect.flatMap(Gc.deadLetters(names.dlq), (letters) => (letters.length === 1 ? Effect.void : Effect.fail("not yet"))))
      yield* Fiber.interrupt(fiber)
      expect((yield* Ref.get(attempts)).map((a) => a.deliveries)).toEqual([1, 2, 3])
      expect((yield* Gc.deadLetters(names.dlq))[0]).toMatchObject({ id, deliveries: 3, fields: { n: "0" } })
      expect(yield* pendingCount(names.stream, names.group)).toBe(0)
      const dead = (yield* Ref.get(events)).filter((e) => e._tag === "DeadLettered")
      expect(dead).toEqual([expect.objectContaining({ reason: "RetriesExhausted", id, dlq: names.dlq, deliveries: 3 })])
    }))

  it.effect("without a dead-letter stream an entry whose schedule ended stays pending and is not handled again", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* addEntries(names.stream, 1)
      const attempts = yield* Ref.make<ReadonlyArray<Attempt>>([])
      const retry = Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(1)))
      const fiber = yield* Effect.fork(Consumer.run({
        stream: names.stream,
        group: names.group,
        consumer: names.consumer,
        block: "50 millis",
        retry,
        handler: (message) =>
          Effect.zipRight(
            Ref.update(attempts, (all) => [...all, { n: message.fields["n"]!, deliveries: message.deliveries ?? 1, at: Date.now() }]),
            message.fields["n"] === "0" ? Effect.fail("poison") : Effect.void
          ),
        control: () => Effect.succeed(Consumer.Control.Recur())
      }))
      yield* eventually(Effect.filterOrFail(Ref.get(attempts), (all) => all.length === 2, () => "not yet"))
      // later entries are handled one at a time, each after the consumer went through its backlog again
      for (let i = 1; i <= 5; i++) {
        yield* addEntries(names.stream, 1, i)
        yield* eventually(Effect.filterOrFail(Ref.get(attempts), (all) => all.some((a) => a.n === String(i)), () => "not yet"))
        yield* eventually(Effect.flatMap(pendingCount(names.stream, names.group), (n) => (n === 1 ? Effect.void : Effect.fail(n))))
      }
      yield* Fiber.interrupt(fiber)
      expect(attemptsOf(yield* Ref.get(attempts), "0").map((a) => a.deliveries)).toEqual([1, 2])
      expect((yield* pendingOf(names.stream, names.group)).map((row) => row.deliveries)).toEqual([2])
    }))
})

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Consumer.run's default retry", (it) => {
  it.effect("backs a poison entry off until gc's dead-letter threshold takes it, one warning per attempt, the failure as it is", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const [id] = yield* addEntries(names.stream, 1)
      const attempts = yield* Ref.make(0)
      const warnings = yield* Ref.make<ReadonlyArray<string>>([])
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") Effect.runSync(Ref.update(warnings, (all) => [...all, String(Array.isArray(message) ? message[0] : message)]))
      })
      const fiber = yield* Effect.fork(Consumer.run({
        stream: names.stream,
        group: names.group,
        consumer: names.consumer,
        block: "200 millis",
        handler: () => Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail("poison"))
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
      // gc's dlq at 2 deliveries, a pass every 3 seconds (the first at once)
      const gc = yield* Effect.fork(Gc.schedule(names.stream, names.group, { dlq: { deliveries: 2, stream: names.dlq }, rebalance: false }, Schedule.spaced("3 seconds")))
      yield* eventually(Effect.flatMap(Gc.deadLetters(names.dlq), (letters) => (letters.length === 1 ? Effect.void : Effect.fail("not yet"))), "15 seconds")
      yield* Fiber.interrupt(gc)
      yield* Fiber.interrupt(fiber)
      // 1 s before the second delivery, 2 s before a third: at most three runs before the pass at 3 s
      const runs = yield* Ref.get(attempts)
      expect(runs).toBeGreaterThanOrEqual(2)
      expect(runs).toBeLessThanOrEqual(3)
      const failures = (yield* Ref.get(warnings)).filter((line) => line.startsWith(`handler failed on ${id}`))
      expect(failures).toHaveLength(runs)
      expect(failures[0]).toBe(`handler failed on ${id} of ${names.stream} (delivery 1): poison`)
      // the letter gc wrote carries the handler's last failure and gc's reason
      const [letter] = yield* Gc.deadLetters(names.dlq)
      expect(letter).toMatchObject({ reason: "Deliveries", error: { message: "poison" } })
      expect((yield* Ref.get(warnings)).filter((line) => line.includes("dead-lettered"))).toHaveLength(0)
    }))

  it.effect("retry: false retries a failed entry at every backlog read, as before", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* addEntries(names.stream, 1)
      const attempts = yield* Ref.make(0)
      const fiber = yield* Effect.fork(Consumer.run({
        stream: names.stream,
        group: names.group,
        consumer: names.consumer,
        block: "50 millis",
        retry: false,
        handler: () => Effect.zipRight(Ref.update(attempts, (n) => n + 1), Effect.fail("poison")),
        control: () => Effect.succeed(Consumer.Control.Recur())
      }))
      // five attempts within 5 s: backing off (1 + 2 + 4 + 8 s) they would take 15 s
      yield* eventually(Effect.filterOrFail(Ref.get(attempts), (n) => n >= 5, () => "not yet"), "5 seconds")
      yield* Fiber.interrupt(fiber)
    }))
})
