import { expect, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Groups, Naming, Redis, Streams } from "../src/index.js"
import * as replies from "../src/internal/redis/replies.js"
import { RedisTest } from "../src/testing/index.js"
import { eventually } from "./utils.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg> = []) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

/** Delivers up to `count` new entries to `consumer` (they become its pending entries). */
const deliver = (stream: string, group: string, consumer: string, count: number) =>
  send("XREADGROUP", ["GROUP", group, consumer, "COUNT", count, "STREAMS", stream, ">"])

/** A new stream and a group on it that reads from the start. */
const fromStart = (name: string) =>
  Effect.map(
    Groups.create(Naming.streamName(name), Naming.groupName(name), { from: "0" }),
    () => ({ stream: Naming.streamName(name), group: Naming.groupName(name) })
  )

const consumerNames = (stream: string, group: string) =>
  Effect.map(Groups.stats(stream, group), (stats) => stats.consumers.map((consumer) => consumer.name))

layer(RedisTest.layer(), { excludeTestServices: true })("Groups", (it) => {
  it.effect("create is idempotent and creates the stream", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("created")
      const group = Naming.groupName("g")
      expect(yield* Groups.create(stream, group)).toBe(true)
      expect(yield* Groups.create(stream, group)).toBe(true)
      expect(yield* send("TYPE", [stream])).toBe("stream")
      expect(yield* Groups.names(stream)).toEqual(new Set([group]))
    }))

  it.effect("create over many streams, from the start or from new entries", () =>
    Effect.gen(function*() {
      const streams = [Naming.streamName("many-1"), Naming.streamName("many-2")]
      for (const stream of streams) yield* Streams.xaddMap(stream, "*", { old: 1 })
      expect(yield* Groups.create(streams, "from-start", { from: "0" })).toBe(true)
      expect(yield* Groups.create(streams, "from-new")).toBe(true)
      for (const stream of streams) {
        expect(yield* Groups.names(stream)).toEqual(new Set(["from-start", "from-new"]))
        expect((yield* Groups.stats(stream, "from-start")).unconsumed).toBe(1)
        expect((yield* Groups.stats(stream, "from-new")).unconsumed).toBe(0)
      }
    }))

  it.effect("create refuses bad names and a malformed from, creating nothing", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("refused")
      const attempts = [
        Groups.create(stream, "has space"),
        Groups.create(stream, ""),
        Groups.create([stream, "bad\tname"], "g"),
        Groups.create(stream, "g", { from: "yesterday" })
      ]
      for (const attempt of attempts) expect((yield* Effect.flip(attempt)).reason).toBe("InvalidArgument")
      expect(yield* send("EXISTS", [stream])).toBe(0)
    }))

  it.effect("create on a key that is not a stream is WrongType and leaves the key untouched", () =>
    Effect.gen(function*() {
      yield* send("SET", ["a-string", "keep me"])
      const error = yield* Effect.flip(Groups.create("a-string", "g"))
      expect(error.reason).toBe("WrongType")
      expect(yield* send("GET", ["a-string"])).toBe("keep me")
      expect((yield* Effect.flip(Groups.names("a-string"))).reason).toBe("WrongType")
    }))

  it.effect("deregisterIdle removes idle consumers without pending entries, never one with pending", () =>
    Effect.gen(function*() {
      const { group, stream } = yield* fromStart("deregister")
      yield* Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }])
      yield* deliver(stream, group, "holder", 1)
      yield* send("XGROUP", ["CREATECONSUMER", stream, group, "empty"])
      yield* eventually(
        Groups.stats(stream, group).pipe(Effect.filterOrFail((stats) => stats.consumers.every((consumer) => consumer.idle > 20)))
      )
      yield* Groups.create(stream, group, { deregisterIdle: "1 hour" })
      expect(yield* consumerNames(stream, group)).toEqual(["empty", "holder"])
      yield* Groups.create(stream, group, { deregisterIdle: "20 millis" })
      expect(yield* consumerNames(stream, group)).toEqual(["holder"])
      expect((yield* Groups.stats(stream, group)).pending).toBe(1)
      expect(yield* Groups.deregisterIdle(stream, group, 0)).toEqual([])
      yield* Groups.clearPending(stream, group, "holder")
      yield* eventually(Groups.deregisterIdle(stream, group, 0).pipe(Effect.filterOrFail((removed) => removed.length === 1)))
      expect(yield* consumerNames(stream, group)).toEqual([])
    }))

  it.effect("names: every group of the stream; a missing stream is NoSuchKey", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("named")
      yield* Groups.create(stream, Naming.groupName("a"))
      yield* Groups.create(stream, Naming.groupName("b"))
      expect(yield* Groups.names(stream)).toEqual(new Set([Naming.groupName("a"), Naming.groupName("b")]))
      const error = yield* Effect.flip(Groups.names(Naming.streamName("no-such-stream")))
      expect(error.reason).toBe("NoSuchKey")
      expect((yield* Effect.flip(Groups.names("bad name"))).reason).toBe("InvalidArgument")
    }))

  it.effect("stats: consumers sorted by name, pending, last delivered id, unconsumed from lag", () =>
    Effect.gen(function*() {
      const { group, stream } = yield* fromStart("stats")
      const ids = yield* Streams.xaddAll(stream, Array.from({ length: 6 }, (_, n) => ({ n })))
      yield* deliver(stream, group, Naming.consumerName("stats", 2), 1)
      yield* deliver(stream, group, Naming.consumerName("stats", 0), 2)
      yield* send("XGROUP", ["CREATECONSUMER", stream, group, Naming.consumerName("stats", 1)])
      yield* send("XACK", [stream, group, ids[1]!])
      const stats = yield* Groups.stats(stream, group)
      expect(stats).toMatchObject({ name: group, pending: 2, lastDeliveredId: ids[2], unconsumed: 3 })
      expect(stats.consumers.map(({ name, pending }) => ({ name, pending }))).toEqual([
        { name: "consumer/stats/0", pending: 1 },
        { name: "consumer/stats/1", pending: 0 },
        { name: "consumer/stats/2", pending: 1 }
      ])
      for (const consumer of stats.consumers) expect(consumer.idle).toBeGreaterThanOrEqual(0)
    }))

  it.effect("stats counts unconsumed itself when Redis reports no lag (entries deleted ahead of the group)", () =>
    Effect.gen(function*() {
      const { group, stream } = yield* fromStart("no-lag")
      const ids = yield* Streams.xaddAll(stream, Array.from({ length: 5 }, (_, n) => ({ n })))
      yield* deliver(stream, group, "c", 1)
      yield* send("XDEL", [stream, ids[2]!])
      const [info] = yield* Effect.flatMap(send("XINFO", ["GROUPS", stream]), replies.groupInfos)
      expect(info).toMatchObject({ name: group, lag: undefined })
      const stats = yield* Groups.stats(stream, group)
      expect(stats.unconsumed).toBe(3)
      expect(stats.lastDeliveredId).toBe(ids[0])
      expect(yield* Streams.countAfter(stream, stats.lastDeliveredId)).toBe(3)
    }))

  it.effect("stats: a missing group is NoGroup, a missing stream NoSuchKey", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("stats-missing")
      yield* Groups.create(stream, "exists")
      expect((yield* Effect.flip(Groups.stats(stream, "missing"))).reason).toBe("NoGroup")
      expect((yield* Effect.flip(Groups.stats(Naming.streamName("nope"), "g"))).reason).toBe("NoSuchKey")
      expect(yield* Groups.stats(stream, "exists")).toEqual({
        name: "exists",
        consumers: [],
        pending: 0,
        lastDeliveredId: "0-0",
        unconsumed: 0,
        paused: false,
        delayed: { count: 0, nextDue: Option.none() }
      })
    }))

  it.effect("clearPending acks in pages, for one consumer or all, and keeps the entries", () =>
    Effect.gen(function*() {
      const { group, stream } = yield* fromStart("pending")
      yield* Streams.xaddAll(stream, Array.from({ length: 2600 }, (_, n) => ({ n })))
      yield* deliver(stream, group, "a", 1500)
      yield* deliver(stream, group, "b", 1100)
      expect(yield* Groups.clearPending(stream, group, "a")).toBe(1500)
      expect((yield* Groups.stats(stream, group)).consumers).toMatchObject([{ name: "a", pending: 0 }, { name: "b", pending: 1100 }])
      expect(yield* Groups.clearPending(stream, group)).toBe(1100)
      expect(yield* Groups.clearPending(stream, group)).toBe(0)
      expect((yield* Groups.stats(stream, group)).pending).toBe(0)
      expect(yield* send("XLEN", [stream])).toBe(2600)
    }))

  it.effect("clearPending: a missing group is NoGroup, a non-stream key WrongType, bad names InvalidArgument", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("pending-missing")
      yield* Groups.create(stream, "exists")
      expect((yield* Effect.flip(Groups.clearPending(stream, "missing"))).reason).toBe("NoGroup")
      expect((yield* Effect.flip(Groups.clearPending(Naming.streamName("nope"), "g"))).reason).toBe("NoGroup")
      yield* send("SET", ["pending-string", "x"])
      expect((yield* Effect.flip(Groups.clearPending("pending-string", "g"))).reason).toBe("WrongType")
      expect((yield* Effect.flip(Groups.clearPending(stream, "exists", "bad name"))).reason).toBe("InvalidArgument")
    }))
})
