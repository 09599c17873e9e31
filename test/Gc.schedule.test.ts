import { expect, layer } from "@effect/vitest"
import { Array as Arr, Effect, Fiber, HashMap, Layer, Logger, LogLevel, Ref, Schedule, TestClock } from "effect"
import * as Gc from "../src/Gc.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import { age, createConsumer, names, pending, read, setup } from "./gcUtils.js"
import { eventually } from "./utils.js"

/** A logger that keeps the messages it was given. */
const capture = Effect.gen(function*() {
  const lines = yield* Ref.make<ReadonlyArray<string>>([])
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const counts = ["Dlq", "Rebalance", "FailedRebalance", "Noop", "Deregister"].flatMap((key) =>
      HashMap.has(annotations, key) ? [`${key}=${HashMap.unsafeGet(annotations, key)}`] : []
    )
    Effect.runSync(Ref.update(lines, Arr.append([logLevel.label, ...Arr.ensure(message), ...counts].join(" "))))
  })
  return {
    lines,
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.Debug))
  }
})

const countPasses = (lines: Ref.Ref<ReadonlyArray<string>>, prefix: string | RegExp) =>
  Effect.map(Ref.get(lines), (all) => all.filter((line) => (typeof prefix === "string" ? line.startsWith(prefix) : prefix.test(line))).length)

/** Pass lines at either level: INFO when the pass acted, DEBUG when it changed nothing. */
const anyPass = /^(INFO|DEBUG) gc pass /

// These tests are about schedules: the TestClock drives the schedule, the Redis calls are real.
layer(RedisTest.layer())("Gc.schedule", (it) => {
  it.effect("runs a pass at once and then one per interval of the schedule, logging each pass", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      const ids = yield* setup(stream, group, 2)
      yield* read(stream, group, consumer(0), 2)
      yield* age(stream, group, consumer(0), ids, 120_000)
      const log = yield* capture
      const fiber = yield* Gc.schedule(stream, group, {}, Schedule.spaced("30 seconds")).pipe(
        Effect.provide(log.layer),
        Effect.fork
      )
      const passes = (n: number) => eventually(Effect.flatMap(countPasses(log.lines, anyPass), (c) => c === n ? Effect.void : Effect.fail(c)))
      yield* passes(1)
      expect(yield* Ref.get(log.lines)).toEqual([
        "INFO gc pass Dlq=0 Rebalance=0 FailedRebalance=2 Noop=0 Deregister=0",
        "DEBUG gc FailedRebalance",
        "DEBUG gc FailedRebalance"
      ])
      yield* TestClock.adjust("29 seconds")
      yield* passes(1)
      // a consumer comes along: the next pass gives it the dead consumer's entries
      yield* createConsumer(stream, group, consumer(1))
      yield* TestClock.adjust("1 second")
      yield* passes(2)
      yield* TestClock.adjust("30 seconds")
      yield* passes(3)
      expect((yield* pending(stream, group)).map((p) => p.consumer)).toEqual([consumer(1), consumer(1)])
      yield* Fiber.interrupt(fiber)
      expect(fiber.unsafePoll()?._tag).toBe("Failure") // interrupted: it ran until then
    }))

  it.effect("feeds each pass's actions to the schedule, and survives a failed pass", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      const log = yield* capture
      const seen = yield* Ref.make<ReadonlyArray<number>>([])
      const policy = Schedule.spaced("1 minute").pipe(
        Schedule.tapInput((actions: ReadonlyArray<Gc.GcAction>) => Ref.update(seen, Arr.append(actions.length))),
        Schedule.intersect(Schedule.recurs(2))
      )
      // the group does not exist yet: the first pass fails
      const fiber = yield* Gc.schedule(stream, group, {}, policy).pipe(Effect.provide(log.layer), Effect.fork)
      yield* eventually(Effect.flatMap(countPasses(log.lines, "WARN gc pass failed"), (c) => c === 1 ? Effect.void : Effect.fail(c)))
      const ids = yield* setup(stream, group, 3)
      yield* read(stream, group, consumer(0), 3)
      yield* TestClock.adjust("1 minute")
      yield* eventually(Effect.flatMap(countPasses(log.lines, anyPass), (c) => c === 1 ? Effect.void : Effect.fail(c)))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber) // the schedule ends after its two recurrences
      expect(yield* Ref.get(seen)).toEqual([0, ids.length, ids.length])
      expect(yield* countPasses(log.lines, anyPass)).toBe(2)
      // passes that changed nothing (three fresh entries: Noop) are logged at debug level only
      expect(yield* countPasses(log.lines, "DEBUG gc pass Dlq=0 Rebalance=0 FailedRebalance=0 Noop=3 Deregister=0")).toBe(2)
      expect(yield* countPasses(log.lines, "INFO gc pass")).toBe(0)
    }))

  it.effect("Gc.layer runs the schedule while the layer is in use and stops it when released", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 1)
      yield* read(stream, group, consumer(0), 1)
      const gc = Gc.layer(stream, group, { dlq: { deliveries: 1, stream: dlq } }, Schedule.spaced("10 seconds"))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(gc)
        yield* eventually(Effect.flatMap(Gc.deadLetters(dlq), (l) => l.length === 1 ? Effect.void : Effect.fail(l)))
      }))
      // released: later passes do not run, so an entry that becomes due stays pending
      const [late] = yield* setup(stream, group, 1)
      yield* read(stream, group, consumer(0), 1)
      yield* TestClock.adjust("1 minute")
      yield* Effect.flatMap(Redis.Redis, (redis) => redis.send("PING"))
      expect((yield* pending(stream, group)).map((p) => p.id)).toEqual([late])
      expect((yield* Gc.deadLetters(dlq)).map((l) => l.id)).toEqual(ids)
    }))
})
