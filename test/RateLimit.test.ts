/**
 * A rate limit shared by a group's consumers (`rateLimit`): counted from the
 * handlers' own start times, never more than `limit + burst - 1` start in
 * any window of `per`, whichever consumer starts them; a batch handler gets
 * each grant's part; bad limits are refused before anything is read.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Metric, MetricLabel } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import { RedisTest } from "../src/testing/index.js"
import { addEntries, Deliveries, eventually, pendingCount } from "./utils.js"

let counter = 0
const fresh = () => {
  const tag = `rate${++counter}`
  return { stream: `stream/${tag}`, group: `group/${tag}`, name: tag }
}

/** The most starts in any window of `per` ms beginning at a start. */
const busiestWindow = (starts: ReadonlyArray<number>, per: number): number => {
  const sorted = [...starts].sort((a, b) => a - b)
  let most = 0
  let j = 0
  for (let i = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + per) j++
    most = Math.max(most, j - i)
  }
  return most
}

/** A fresh stream with its group and `n` entries. */
const seeded = (n: number) =>
  Effect.gen(function*() {
    const names = fresh()
    yield* Groups.create(names.stream, names.group)
    return { ...names, ids: yield* addEntries(names.stream, n) }
  })

/** Once nothing is pending: every one of the `n` entries handled, none twice. */
const allOnce = (stream: string, group: string, handled: Deliveries<string>, n: number) =>
  Effect.gen(function*() {
    yield* eventually(Effect.filterOrFail(pendingCount(stream, group), (pending) => pending === 0))
    expect(handled.size).toBe(n)
    expect(handled.twice).toEqual([])
  })

const throttledOf = (stream: string, group: string) =>
  Metric.value(Consumer.metrics.throttled.pipe(Metric.taggedWithLabels([MetricLabel.make("stream", stream), MetricLabel.make("group", group)])))

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("rateLimit", (it) => {
  it.effect("three consumers with limit 50 per second start at most 51 handlers in any second between them, and handle everything", () =>
    Effect.gen(function*() {
      const { group, name, stream } = yield* seeded(150)
      const starts: Array<number> = []
      const byConsumer = new Map<string, number>()
      const ids = new Deliveries<string>()
      const fibers = yield* Effect.forEach([0, 1, 2], (i) =>
        Effect.fork(Consumer.run({
          stream,
          group,
          consumer: `consumer/${name}/${i}`,
          block: 100,
          count: 20,
          rateLimit: { limit: 50, per: "1 second" },
          handler: (message) =>
            Effect.sync(() => {
              starts.push(Date.now())
              ids.record(message.id)
              byConsumer.set(message.consumer, (byConsumer.get(message.consumer) ?? 0) + 1)
            })
        })))
      yield* eventually(Effect.sync(() => expect(starts.length).toBe(150)), "15 seconds")
      yield* allOnce(stream, group, ids, 150)
      const most = busiestWindow(starts, 1_000)
      console.log(`[rate] 150 starts by ${byConsumer.size} consumers, at most ${most} in any second (limit 50, burst 1)`)
      expect(most).toBeLessThanOrEqual(51)
      // the limit held the group back: it was not a slow drain
      expect(most).toBeGreaterThanOrEqual(40)
      expect(byConsumer.size).toBeGreaterThan(1)
      expect((yield* throttledOf(stream, group)).count).toBeGreaterThan(0)
      yield* Effect.forEach(fibers, Fiber.interrupt)
    }))

  it.effect("burst lets that many start at once after a quiet spell; the window bound is limit + burst - 1", () =>
    Effect.gen(function*() {
      const { group, name, stream } = yield* seeded(30)
      const starts: Array<number> = []
      const ids = new Deliveries<string>()
      const fiber = yield* Effect.fork(Consumer.run({
        stream,
        group,
        consumer: `consumer/${name}/0`,
        block: 100,
        rateLimit: { limit: 10, per: "1 second", burst: 5 },
        handler: (message) =>
          Effect.sync(() => {
            starts.push(Date.now())
            ids.record(message.id)
          })
      }))
      yield* eventually(Effect.sync(() => expect(starts.length).toBe(30)), "15 seconds")
      yield* allOnce(stream, group, ids, 30)
      // limit + burst - 1 = 14 as the server grants them; the handlers' own clocks can see one more (a round trip's jitter)
      expect(busiestWindow(starts, 1_000)).toBeLessThanOrEqual(15)
      // the first five at once, the sixth a spacing (100 ms) later
      expect(starts[4]! - starts[0]!).toBeLessThan(50)
      expect(starts[5]! - starts[0]!).toBeGreaterThanOrEqual(80)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a batch handler gets each grant's part of a read", () =>
    Effect.gen(function*() {
      const { group, name, stream } = yield* seeded(40)
      const sizes: Array<number> = []
      const ids = new Deliveries<string>()
      const fiber = yield* Effect.fork(Consumer.run({
        stream,
        group,
        consumer: `consumer/${name}/0`,
        block: 100,
        count: 100,
        rateLimit: { limit: 40, per: "1 second", burst: 5 },
        handleBatch: (messages) =>
          Effect.sync(() => {
            sizes.push(messages.length)
            for (const message of messages) ids.record(message.id)
          })
      }))
      yield* eventually(Effect.sync(() => expect(sizes.reduce((a, b) => a + b, 0)).toBe(40)), "15 seconds")
      expect(sizes[0]).toBe(5)
      expect(Math.max(...sizes)).toBeLessThanOrEqual(5)
      yield* allOnce(stream, group, ids, 40)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a handler's rateLimited holds every consumer sharing the limit for its delay; the entry is handled after, not counted as failed", () =>
    Effect.gen(function*() {
      const { group, name, stream } = fresh()
      yield* Groups.create(stream, group)
      const ids = yield* addEntries(stream, 12)
      const starts: Array<{ readonly at: number; readonly consumer: string; readonly id: string }> = []
      let heldAt: number | undefined
      const fibers = yield* Effect.forEach([0, 1], (i) =>
        Effect.fork(Consumer.run({
          stream,
          group,
          consumer: `consumer/${name}/${i}`,
          block: 100,
          count: 4,
          retry: false,
          rateLimit: { limit: 20, per: "1 second" },
          handler: (message) =>
            Effect.suspend(() => {
              starts.push({ at: Date.now(), consumer: message.consumer, id: message.id })
              if (message.id === ids[3] && heldAt === undefined) {
                heldAt = Date.now()
                return Effect.fail(Consumer.rateLimited("800 millis"))
              }
              return Effect.void
            })
        })))
      yield* eventually(Effect.filterOrFail(pendingCount(stream, group), (n) => n === 0 && starts.length === 13), "15 seconds")
      // during the hold at most one start per consumer, granted before it; none from a grant after
      const during = starts.filter((start) => start.at > heldAt! && start.at < heldAt! + 760)
      expect(during.length, JSON.stringify(during)).toBeLessThanOrEqual(2)
      // the rate-limited one twice (its first run failed with rateLimited), every other once
      expect(starts.filter((start) => start.id === ids[3]).length).toBe(2)
      expect(ids.filter((id) => id !== ids[3]).map((id) => starts.filter((start) => start.id === id).length)).toEqual(ids.slice(1).map(() => 1))
      const labels = [MetricLabel.make("stream", stream), MetricLabel.make("group", group)]
      expect((yield* Metric.value(Consumer.metrics.failed.pipe(Metric.taggedWithLabels(labels)))).count).toBe(0)
      expect((yield* Metric.value(Consumer.metrics.rateLimited.pipe(Metric.taggedWithLabels(labels)))).count).toBe(1)
      yield* Effect.forEach(fibers, Fiber.interrupt)
    }))

  it.effect("without rateLimit, rateLimited holds the consumer itself; a bad delay throws", () =>
    Effect.gen(function*() {
      const { group, name, stream } = fresh()
      yield* Groups.create(stream, group)
      const [a, b] = yield* addEntries(stream, 2)
      const starts: Array<{ readonly at: number; readonly id: string }> = []
      let once = false
      const fiber = yield* Effect.fork(Consumer.run({
        stream,
        group,
        consumer: `consumer/${name}/0`,
        block: 100,
        handler: (message) =>
          Effect.suspend(() => {
            starts.push({ at: Date.now(), id: message.id })
            if (message.id === a && !once) {
              once = true
              return Effect.fail(Consumer.rateLimited(400))
            }
            return Effect.void
          })
      }))
      yield* eventually(Effect.filterOrFail(pendingCount(stream, group), (n) => n === 0 && starts.length === 3), "10 seconds")
      expect(starts.map((start) => start.id)).toEqual([a, b, a])
      expect(starts[1]!.at - starts[0]!.at).toBeGreaterThanOrEqual(390)
      yield* Fiber.interrupt(fiber)
      expect(Consumer.rateLimited("1 second").delay).toBe(1000)
      for (const bad of [-1, "-2 seconds", NaN, "soon"]) expect(() => Consumer.rateLimited(bad as never), String(bad)).toThrow(RangeError)
    }))

  it.effect("a limit below 1, a fractional limit or burst, or a per below 1 ms is an InvalidArgument before anything is read", () =>
    Effect.gen(function*() {
      const { group, stream } = fresh()
      yield* Groups.create(stream, group)
      yield* addEntries(stream, 1)
      const bad: ReadonlyArray<Consumer.RateLimitOptions> = [
        { limit: 0, per: "1 second" },
        { limit: 1.5, per: "1 second" },
        { limit: -5, per: "1 second" },
        { limit: 10, per: -1 },
        { limit: 10, per: 0 },
        { limit: 10, per: "1 second", burst: 0 },
        { limit: 10, per: "1 second", burst: 2.5 },
        { per: "1 second" } as unknown as Consumer.RateLimitOptions
      ]
      for (const rateLimit of bad) {
        const error = yield* Effect.flip(Consumer.run({ stream, group, consumer: "c", rateLimit, handler: () => Effect.void }))
        expect(error, JSON.stringify(rateLimit)).toMatchObject({ _tag: "RedisError", reason: "InvalidArgument" })
      }
      expect(yield* pendingCount(stream, group)).toBe(0)
      expect((yield* Groups.stats(stream, group)).unconsumed).toBe(1)
    }))
})
