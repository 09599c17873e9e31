/**
 * One consumer over several streams by priority, against a real server:
 * pending entries first (highest priority first), then each read from the
 * highest-priority stream with new entries; one blocking read over all of
 * them; and every bad option refused before anything is sent.
 */
import { describe, expect, layer } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect, Fiber, Ref, Schedule } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import { addEntries, eventually } from "./utils.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

let counter = 0
const fresh = () => {
  const tag = `prio${++counter}`
  return {
    streams: [`stream/${tag}-high`, `stream/${tag}-mid`, `stream/${tag}-low`] as const,
    group: `group/${tag}`,
    consumer: `consumer/${tag}/0`
  }
}

/** Runs a consumer over `streams` that records `stream:n` of every entry it handles. */
const recording = (
  streams: ReadonlyArray<string>,
  group: string,
  consumer: string,
  options: { readonly block?: Duration.DurationInput; readonly count?: number } = {}
) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<ReadonlyArray<string>>([])
    const fiber = yield* Effect.fork(Consumer.run({
      streams,
      group,
      consumer,
      block: options.block ?? "200 millis",
      count: options.count ?? 10,
      handler: (message) => Ref.update(seen, (all) => [...all, `${message.stream.split("-").at(-1)}:${message.fields["n"]}`])
    }))
    return { seen, fiber }
  })

const shortName = (stream: string) => stream.split("-").at(-1)

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Consumer.run over several streams", (it) => {
  it.effect("handles pending entries first, highest priority first, then new ones by priority", () =>
    Effect.gen(function*() {
      const { consumer, group, streams } = fresh()
      yield* Groups.create(streams, group, { from: "0" })
      // two entries per stream delivered to this consumer and not acked (its backlog)
      for (const stream of streams) yield* addEntries(stream, 2, 0)
      for (const stream of [...streams].reverse()) {
        yield* send("XREADGROUP", ["GROUP", group, consumer, "COUNT", 2, "STREAMS", stream, ">"])
      }
      // then new entries, the low stream's written first
      for (const stream of [...streams].reverse()) yield* addEntries(stream, 3, 10)
      const { fiber, seen } = yield* recording(streams, group, consumer, { count: 2 })
      const order = yield* eventually(Effect.filterOrFail(Ref.get(seen), (all) => all.length === 15, () => "not yet"))
      yield* Fiber.interrupt(fiber)
      expect(order).toEqual([
        "high:0", "high:1", "mid:0", "mid:1", "low:0", "low:1",
        "high:10", "high:11", "high:12", "mid:10", "mid:11", "mid:12", "low:10", "low:11", "low:12"
      ])
      for (const stream of streams) expect(yield* send("XPENDING", [stream, group])).toEqual([0, null, null, null])
    }))

  it.effect("one blocking read covers every stream: an entry added to any wakes the consumer, and carries its stream", () =>
    Effect.gen(function*() {
      const { consumer, group, streams } = fresh()
      yield* Groups.create(streams, group)
      const { fiber, seen } = yield* recording(streams, group, consumer, { block: "30 seconds" })
      yield* eventually(Effect.flatMap(send("CLIENT", ["LIST"]), (list) =>
        new RegExp(`name=${consumer} .*cmd=xreadgroup`).test(String(list)) ? Effect.void : Effect.fail("not blocked yet")))
      yield* addEntries(streams[2], 1, 7)
      yield* eventually(Effect.flatMap(Ref.get(seen), (all) => all.includes("low:7") ? Effect.void : Effect.fail("not yet")))
      yield* addEntries(streams[0], 1, 8)
      yield* eventually(Effect.flatMap(Ref.get(seen), (all) => all.includes("high:8") ? Effect.void : Effect.fail("not yet")))
      yield* Fiber.interrupt(fiber)
      expect(yield* Ref.get(seen)).toEqual(["low:7", "high:8"])
    }))

  it.effect("a high-priority entry written while a lower stream is drained is handled at the next read", () =>
    Effect.gen(function*() {
      const { consumer, group, streams } = fresh()
      yield* Groups.create(streams, group, { from: "0" })
      yield* addEntries(streams[2], 30, 0)
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(Consumer.run({
        streams,
        group,
        consumer,
        count: 5,
        block: "200 millis",
        handler: (message) =>
          Effect.gen(function*() {
            // the first low entry brings a high one: it must come before the low stream's next batch
            if (message.fields["n"] === "0" && shortName(message.stream) === "low") yield* addEntries(streams[0], 1, 100)
            yield* Ref.update(seen, (all) => [...all, `${shortName(message.stream)}:${message.fields["n"]}`])
          })
      }))
      const order = yield* eventually(Effect.filterOrFail(Ref.get(seen), (all) => all.length === 31, () => "not yet"))
      yield* Fiber.interrupt(fiber)
      // the batch being handled and the one read ahead (5 + 5) go first; then the high entry
      const high = order.indexOf("high:100")
      expect(high).toBeGreaterThanOrEqual(5)
      expect(high).toBeLessThanOrEqual(10)
      expect(order.filter((e) => e.startsWith("low:"))).toEqual(Array.from({ length: 30 }, (_, i) => `low:${i}`))
    }))

  it.effect("a low stream is drained when the higher ones are empty", () =>
    Effect.gen(function*() {
      const { consumer, group, streams } = fresh()
      yield* Groups.create(streams, group, { from: "0" })
      yield* addEntries(streams[2], 25, 0)
      const { fiber, seen } = yield* recording(streams, group, consumer)
      yield* eventually(Effect.filterOrFail(Ref.get(seen), (all) => all.length === 25, () => "not yet"))
      yield* Fiber.interrupt(fiber)
      expect(yield* send("XPENDING", [streams[2], group])).toEqual([0, null, null, null])
    }))

  it.effect("refuses every bad option with InvalidArgument before anything is sent", () =>
    Effect.gen(function*() {
      const { consumer, group, streams } = fresh()
      yield* Groups.create(streams, group)
      const base = { group, consumer, handler: () => Effect.void }
      const refused = (options: Partial<Consumer.Options<void, never, never, never, never>>) =>
        // deliberately past the types (no stream, both, …): the run refuses at run time too
        // (that the types refuse them is checked by the @ts-expect-error lines below, under npm run typecheck)
        Effect.flip(Consumer.run({ ...base, ...options } as Consumer.Options<void, never, never, never, never> & Consumer.StreamChoice))
      // @ts-expect-error neither stream nor streams does not type-check
      const neither = () => Consumer.run({ group, consumer, handler: () => Effect.void })
      // @ts-expect-error stream and streams together do not type-check
      const both = () => Consumer.run({ stream: streams[0], streams, group, consumer, handler: () => Effect.void })
      for (const run of [neither, both]) {
        expect(yield* Effect.flip(run() as Effect.Effect<unknown, { readonly reason: string }, Redis.Redis>)).toMatchObject({ reason: "InvalidArgument" })
      }
      const cases: ReadonlyArray<readonly [string, Partial<Consumer.Options<void, never, never, never, never>>, RegExp]> = [
        ["no stream", {}, /one stream or more/],
        ["empty streams", { streams: [] }, /one stream or more/],
        ["both", { stream: streams[0], streams }, /not both/],
        ["duplicates", { streams: [streams[0], streams[1], streams[0]] }, /twice/],
        ["a bad name", { streams: [streams[0], "has space"] }, /whitespace/],
        ["claim idle under 1 ms", { streams, claim: { idle: 0 } }, /claim.idle/],
        ["claim count", { streams, claim: { idle: 1000, count: 0 } }, /claim.count/],
        ["claim dead letter by idle", { streams, claim: { idle: 1000, deadLetter: { idle: 5 } } }, /not idle/],
        ["claim dead letter without deliveries", { streams, claim: { idle: 1000, deadLetter: {} } }, /needs deliveries/],
        ["retry not a schedule", { streams, retry: { delay: 5 } as unknown as Schedule.Schedule<unknown> }, /retry must be a Schedule or false/],
        ["trace not a mode", { streams, trace: "child" as unknown as "link" }, /trace must be "link", "parent" or false/],
        ["a bad trace field", { streams, traceField: "trace field" }, /traceField.*whitespace/]
      ]
      for (const [what, options, message] of cases) {
        const error = yield* refused(options)
        expect(error._tag, what).toBe("RedisError")
        expect((error as { reason: string }).reason, what).toBe("InvalidArgument")
        expect((error as { message: string }).message, what).toMatch(message)
      }
      // nothing was sent: the consumer never registered in the group
      for (const stream of streams) expect(yield* send("XINFO", ["CONSUMERS", stream, group])).toEqual([])
      expect(Schedule.isSchedule(Schedule.spaced(1))).toBe(true)
    }))
})

describe("Consumer.run over several streams, on a cluster", () => {
  layer(RedisTest.layerCluster(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("streams in different slots are a CrossSlot error at start naming them and their slots", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Consumer.run({
          streams: ["stream/a-high", "stream/b-low"],
          group: "group/x",
          consumer: "consumer/x/0",
          handler: () => Effect.void
        }))
        expect(error).toMatchObject({ _tag: "RedisError", reason: "CrossSlot" })
        expect((error as { message: string }).message).toMatch(/slot \d+: "stream\/a-high"; slot \d+: "stream\/b-low"/)
      }))

    it.effect("hash-tagged streams share a slot and are read by priority", () =>
      Effect.gen(function*() {
        const streams = ["stream/{jobs}high", "stream/{jobs}low"]
        yield* Groups.create(streams, "group/jobs", { from: "0" })
        yield* addEntries(streams[1]!, 2, 0)
        yield* addEntries(streams[0]!, 2, 10)
        const { fiber, seen } = yield* recording(streams, "group/jobs", "consumer/jobs/0")
        const order = yield* eventually(Effect.filterOrFail(Ref.get(seen), (all) => all.length === 4, () => "not yet"))
        yield* Fiber.interrupt(fiber)
        expect(order).toEqual(["stream/{jobs}high:10", "stream/{jobs}high:11", "stream/{jobs}low:0", "stream/{jobs}low:1"])
      }))
  })
})
