/**
 * The behaviour suite: the same tests against a single server
 * (`single.test.ts`) and a 3-master Redis Cluster (`cluster.test.ts`). Stream
 * names are chosen so that, on the cluster, they are spread over every master.
 */
import type { Vitest } from "@effect/vitest"
import { expect } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect, Fiber, Option, Ref } from "effect"
import { Consumer, Gc, Groups, Naming, Redis, Streams } from "../../src/index.js"
import * as Keys from "../../src/internal/redis/keys.js"
import * as replies from "../../src/internal/redis/replies.js"
import { blockedClients, Deliveries, eventually } from "../utils.js"

/** `count` stream names; 12 or more land on all three masters of the test cluster. */
const streamNames = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => Naming.streamName(`${prefix}-${i}`))

/** `count` streams, each with a hash tag of its own (so each has its dead-letter stream in its slot). */
const taggedStreams = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => Naming.streamName(prefix, { hashTag: `${prefix}-${i}` }))

/**
 * A group on each stream with two entries pending for consumer `dead` (read
 * on a dedicated connection) and an idle consumer `alive`.
 */
const pendingForDead = (streams: ReadonlyArray<string>, group: string) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    yield* Groups.create(streams, group)
    const connection = yield* redis.dedicated(Naming.consumerName(group, "dead"))
    for (const stream of streams) {
      yield* Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }])
      yield* connection.send("XREADGROUP", ["GROUP", group, "dead", "COUNT", 10, "STREAMS", stream, ">"])
      yield* redis.send("XGROUP", ["CREATECONSUMER", stream, group, "alive"])
    }
  })

/** How many of `keys` each master holds (a master that does not hold a key answers MOVED). */
const keysPerMaster = (keys: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const masters = yield* Effect.flatMap(Redis.Redis, (redis) => redis.masters)
    return yield* Effect.forEach(masters, (master) =>
      Effect.reduce(keys, 0, (held, key) =>
        Effect.map(Effect.either(master.send("EXISTS", [key])), (exists) =>
          held + (exists._tag === "Right" && exists.right === 1 ? 1 : 0))))
  })

/**
 * One consumer per stream (the same group), recording each entry it handles
 * by stream and id, so that a test sees an entry handled twice.
 */
const consumersOn = (
  streams: ReadonlyArray<string>,
  group: string,
  name: string,
  options: { readonly block: Duration.DurationInput; readonly rateLimit?: Consumer.RateLimitOptions },
  handled: Deliveries<string>
) =>
  Effect.forEach(streams, (stream, i) =>
    Effect.forkScoped(Consumer.run({
      stream,
      group,
      consumer: Naming.consumerName(name, i),
      ...options,
      handler: (message) => Effect.sync(() => handled.record(`${message.stream} ${message.id}`))
    })))

/** Waits until every stream's group has nothing pending or undelivered, then checks that no entry was handled twice. */
const settledOnce = (streams: ReadonlyArray<string>, group: string, handled: Deliveries<string>, expected: number) =>
  Effect.gen(function*() {
    yield* eventually(Effect.sync(() => expect(handled.size).toBe(expected)), "10 seconds")
    yield* eventually(
      Effect.filterOrFail(
        Effect.forEach(streams, (stream) => Groups.stats(stream, group)),
        (all: ReadonlyArray<Groups.GroupStats>) => all.every((s) => s.pending === 0 && s.unconsumed === 0)
      )
    )
    expect(handled.twice).toEqual([])
    expect(handled.size).toBe(expected)
  })

export const behaviour = (it: Vitest.MethodsNonLive<Redis.Redis, true>) => {
  it.effect("allStreamKeys finds the streams on every master, each once", () =>
    Effect.gen(function*() {
      const streams = streamNames("spread", 12)
      for (const stream of streams) yield* Streams.xaddMap(stream, "*", { n: 1 })
      const perMaster = yield* keysPerMaster(streams)
      expect(perMaster.every((held) => held > 0)).toBe(true)
      expect(perMaster.reduce((a, b) => a + b, 0)).toBe(streams.length)
      expect([...(yield* Streams.allStreamKeys("stream/spread-*"))].sort()).toEqual([...streams].sort())
    }))

  it.effect("deduplicated writes on streams spread over the masters, plain and hash-tagged: one entry per key, its id to every write", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      for (const stream of [...streamNames("dedupe", 12), ...taggedStreams("dedupe", 3)]) {
        const dedupe = { key: "order-1", ttl: "1 minute" } as const
        const first = yield* Streams.xaddMap(stream, "*", { n: 1 }, { dedupe })
        expect(yield* Streams.xaddMap(stream, "*", { n: 2 }, { dedupe }), stream).toBe(first)
        const ids = yield* Streams.xaddAll(stream, [{ k: "a" }, { k: "b" }, { k: "a" }, { k: "order-1" }], {
          dedupe: { key: (record) => String(record["k"]), ttl: "1 minute" }
        })
        expect(ids[0], stream).toBe(ids[2])
        expect(ids[3], stream).toBe(first)
        expect(yield* redis.send("XLEN", [stream]), stream).toBe(3)
      }
    }))

  it.scoped("groups, reads, stats and clearPending on streams spread over the masters", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const streams = streamNames("groups", 12)
      const group = Naming.groupName("behaviour")
      expect(yield* Groups.create(streams, group)).toBe(true)
      const connection = yield* redis.dedicated(Naming.consumerName("behaviour", 0))
      for (const stream of streams) {
        yield* Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }])
        const read = yield* Effect.flatMap(
          connection.send("XREADGROUP", ["GROUP", group, "c", "COUNT", 2, "STREAMS", stream, ">"]),
          (reply) => replies.streams("XREADGROUP", reply)
        )
        expect(read.flatMap((s) => s.entries)).toHaveLength(2)
        const stats = yield* Groups.stats(stream, group)
        expect(stats.pending).toBe(2)
        expect(stats.unconsumed).toBe(3)
        expect(stats.consumers.map((consumer) => [consumer.name, consumer.pending])).toEqual([["c", 2]])
        expect(yield* Groups.clearPending(stream, group)).toBe(2)
        expect((yield* Groups.stats(stream, group)).pending).toBe(0)
      }
      expect((yield* keysPerMaster(streams)).every((held) => held > 0)).toBe(true)
    }))

  it.effect("a stream and its dead-letter stream share a slot, so one transaction writes both", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const stream = Naming.streamName("tagged", { hashTag: "tagged" })
      const dlq = Naming.dlqName(stream)
      yield* redis.transaction([["XADD", [stream, "*", "n", 1]], ["XADD", [dlq, "*", "n", 1]]])
      expect(yield* Streams.read(stream)).toHaveLength(1)
      expect(yield* Streams.read(dlq)).toHaveLength(1)
    }))

  it.scoped("gc dead-letters the pending entries of streams on every master into their own slot", () =>
    Effect.gen(function*() {
      const streams = taggedStreams("gc-dlq", 12)
      const group = Naming.groupName("gc-dlq")
      yield* pendingForDead(streams, group)
      expect((yield* keysPerMaster(streams)).every((held) => held > 0)).toBe(true)
      for (const stream of streams) {
        const dlq = Naming.dlqName(stream)
        // No dlq.stream given: the default is Naming.dlqName(stream), in the stream's slot.
        const actions = yield* Gc.collect(stream, group, { dlq: { deliveries: 1 }, rebalance: false, deregister: false })
        expect(actions.map((action) => action._tag)).toEqual(["Dlq", "Dlq"])
        const letters = yield* Gc.deadLetters(dlq)
        expect(letters.map((letter) => [letter.stream, letter.consumer, letter.fields])).toEqual([
          [stream, "dead", { n: "1" }],
          [stream, "dead", { n: "2" }]
        ])
        expect((yield* Groups.stats(stream, group)).pending).toBe(0)
        expect(yield* Gc.redrive(dlq)).toHaveLength(2)
        expect((yield* Groups.stats(stream, group)).unconsumed).toBe(2)
      }
    }))

  it.scoped("gc rebalances pending entries to a live consumer on streams on every master", () =>
    Effect.gen(function*() {
      const streams = taggedStreams("gc-rebalance", 12)
      const group = Naming.groupName("gc-rebalance")
      yield* pendingForDead(streams, group)
      for (const stream of streams) {
        const actions = yield* Gc.collect(stream, group, { rebalance: { idle: 0, siblings: "all" }, dlq: false, deregister: false })
        expect(actions.map((action) => action._tag === "Rebalance" && action.claimant)).toEqual(["alive", "alive"])
        const stats = yield* Groups.stats(stream, group)
        expect(stats.consumers.map((consumer) => [consumer.name, consumer.pending])).toEqual([["alive", 2], ["dead", 0]])
      }
    }))

  it.effect("gc refuses a dead-letter stream in another slot on a cluster, and works on one server", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const stream = Naming.streamName("gc-cross", { hashTag: "gc-cross" })
      const group = Naming.groupName("gc-cross")
      yield* Groups.create(stream, group)
      const result = yield* Effect.either(Gc.collect(stream, group, { dlq: { stream: "stream/elsewhere" } }))
      if (redis.isCluster) expect(result._tag === "Left" && result.left.reason).toBe("CrossSlot")
      else expect(result._tag).toBe("Right")
    }))

  it.scoped("a paused group reads nothing on streams on every master (its consumers woken from their blocks), and drains after the resume", () =>
    Effect.gen(function*() {
      const streams = [...streamNames("paused", 12), ...taggedStreams("paused", 3)]
      const group = Naming.groupName("paused")
      yield* Groups.create(streams, group)
      const handled = new Deliveries<string>()
      yield* consumersOn(streams, group, "paused", { block: "10 seconds" }, handled)
      yield* eventually(Effect.filterOrFail(blockedClients, (n) => n >= streams.length))
      yield* Effect.forEach(streams, (stream) => Groups.pause(stream, group))
      // every consumer woken long before its 10 s block ends, and none blocked again
      yield* eventually(Effect.filterOrFail(blockedClients, (n) => n === 0), "3 seconds")
      for (const stream of streams) yield* Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }])
      // each consumer has checked the pause since the writes: time enough to have read them, had it read
      const written = Date.now()
      yield* eventually(Effect.filterOrFail(Consumer.health(), (all) =>
        all.filter((h) => h.group === group).every((h) => (h.lastReadAt?.getTime() ?? 0) > written + 50)), "5 seconds")
      const stats = yield* Effect.forEach(streams, (stream) => Groups.stats(stream, group))
      expect(stats.map((s) => [s.paused, s.pending])).toEqual(streams.map(() => [true, 0]))
      expect(handled.size).toBe(0)
      yield* Effect.forEach(streams, (stream) => Groups.resume(stream, group))
      yield* settledOnce(streams, group, handled, streams.length * 2)
    }))

  it.scoped("rate-limited consumers on streams on every master: the limiter beside each stream counts its group, everything handled", () =>
    Effect.gen(function*() {
      const streams = [...streamNames("limited", 12), ...taggedStreams("limited", 3)]
      const group = Naming.groupName("limited")
      yield* Groups.create(streams, group)
      for (const stream of streams) yield* Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }, { n: 3 }])
      const handled = new Deliveries<string>()
      yield* consumersOn(streams, group, "limited", { block: "100 millis", rateLimit: { limit: 20, per: "1 second", burst: 2 } }, handled)
      // each limiter's script ran beside its stream (a key in another slot would be refused on a cluster)
      yield* settledOnce(streams, group, handled, streams.length * 3)
      for (const stream of streams) expect(Keys.beside("ratelimit", stream, group), stream).toContain(stream)
    }))

  it.scoped("delayed entries on streams on every master: held beside each stream, moved in by its consumer when due, promoted and cancelled by handle", () =>
    Effect.gen(function*() {
      const streams = [...streamNames("delayed", 12), ...taggedStreams("delayed", 3)]
      const group = Naming.groupName("delayed")
      yield* Groups.create(streams, group)
      for (const stream of streams) {
        yield* Streams.xaddMap(stream, "*", { n: 1 }, { delay: "200 millis" })
        const [promoteNow, cancel] = yield* Streams.xaddAll(stream, [{ n: 2 }, { n: 3 }], { delay: "1 hour" })
        expect(Option.isSome(yield* Streams.promoteDelayed(stream, promoteNow!)), stream).toBe(true)
        expect(yield* Streams.cancelDelayed(stream, cancel!), stream).toBe(true)
      }
      const handled = new Deliveries<string>()
      yield* consumersOn(streams, group, "delayed", { block: "1 second" }, handled)
      yield* settledOnce(streams, group, handled, streams.length * 2)
      for (const stream of streams) expect((yield* Streams.delayedStats(stream)).count, stream).toBe(0)
    }))

  it.scoped("consumers handle every entry of streams on every master, acking each", () =>
    Effect.gen(function*() {
      const streams = streamNames("consumed", 12)
      const group = Naming.groupName("consumed")
      yield* Groups.create(streams, group)
      const handled = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.forEach(streams, (stream, i) =>
        Effect.forkScoped(Consumer.run({
          stream,
          group,
          consumer: Naming.consumerName("consumed", i),
          block: "1 second",
          handler: (message) => Ref.update(handled, (all) => [...all, `${message.stream} ${message.fields["n"]}`])
        })))
      for (const stream of streams) yield* Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }, { n: 3 }])
      yield* eventually(Effect.filterOrFail(Ref.get(handled), (all) => all.length >= 36))
      for (const stream of streams) {
        yield* eventually(Effect.filterOrFail(Groups.stats(stream, group), (stats) => stats.pending === 0))
      }
      // every delivery counted, once everything is acked: each entry exactly once
      expect([...(yield* Ref.get(handled))].sort()).toEqual(
        streams.flatMap((stream) => [1, 2, 3].map((n) => `${stream} ${n}`)).sort()
      )
    }))

  it.scoped("unblock and unblockGroup reach consumers blocked on every master", () =>
    Effect.gen(function*() {
      const streams = streamNames("unblocked", 12)
      const group = Naming.groupName("unblocked")
      yield* Groups.create(streams, group)
      const fibers = yield* Effect.forEach(streams, (stream, i) =>
        Effect.forkScoped(Consumer.run({
          stream,
          group,
          consumer: Naming.consumerName("unblocked", i),
          block: "20 seconds",
          handler: () => Effect.void
        })))
      yield* eventually(Effect.filterOrFail(blockedClients, (n) => n === streams.length))
      expect(yield* Consumer.unblockGroup(streams[0]!, group)).toBe(1)
      expect(yield* Effect.flip(Fiber.join(fibers[0]!))).toMatchObject({ _tag: "RedisError", reason: "Unblocked" })
      expect(yield* blockedClients).toBe(streams.length - 1)
      expect(yield* Consumer.unblock(Naming.consumerName("unblocked"))).toBe(streams.length - 1)
      for (const fiber of fibers.slice(1)) {
        expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ _tag: "RedisError", reason: "Unblocked" })
      }
    }))

  it.scoped("one consumer over three hash-tagged streams on every master, by priority, unblocked on its master", () =>
    Effect.gen(function*() {
      // a group of three streams per hash tag; the tags spread the groups over the masters
      const tags = Array.from({ length: 6 }, (_, i) => `prio-${i}`)
      const handled = yield* Ref.make<ReadonlyArray<string>>([])
      const fibers = yield* Effect.forEach(tags, (tag) =>
        Effect.gen(function*() {
          const streams = ["high", "mid", "low"].map((level) => Naming.streamName(level, { hashTag: tag }))
          const group = Naming.groupName(tag)
          yield* Groups.create(streams, group, { from: "0" })
          for (const stream of [...streams].reverse()) yield* Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }])
          return yield* Effect.forkScoped(Consumer.run({
            streams,
            group,
            consumer: Naming.consumerName(tag, 0),
            block: "20 seconds",
            handler: (message) => Ref.update(handled, (all) => [...all, `${tag} ${message.stream.split("}")[1]} ${message.fields["n"]}`])
          }))
        }))
      expect((yield* keysPerMaster(tags.map((tag) => Naming.streamName("high", { hashTag: tag })))).every((held) => held > 0)).toBe(true)
      yield* eventually(Effect.filterOrFail(Ref.get(handled), (all) => all.length >= tags.length * 6))
      // every consumer blocked again: all handled and acked; each entry delivered exactly once, by priority
      yield* eventually(Effect.filterOrFail(blockedClients, (n) => n === tags.length))
      for (const tag of tags) {
        expect((yield* Ref.get(handled)).filter((line) => line.startsWith(`${tag} `))).toEqual(
          ["high", "mid", "low"].flatMap((level) => [`${tag} ${level} 1`, `${tag} ${level} 2`])
        )
      }
      expect(yield* Consumer.unblock(Naming.consumerName("prio-"))).toBe(tags.length)
      for (const fiber of fibers) expect(yield* Effect.flip(Fiber.join(fiber))).toMatchObject({ reason: "Unblocked" })
    }))

  it.scoped("self-claim recovers a dead consumer's entries on streams on every master, with no gc", () =>
    Effect.gen(function*() {
      const streams = taggedStreams("self-claim", 12)
      const group = Naming.groupName("self-claim")
      yield* pendingForDead(streams, group)
      const handled = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.forEach(streams, (stream, i) =>
        Effect.forkScoped(Consumer.run({
          stream,
          group,
          consumer: Naming.consumerName("self-claim", i),
          block: "100 millis",
          claim: { idle: "1 millis" },
          handler: (message) => Ref.update(handled, (all) => [...all, `${message.stream} ${message.fields["n"]}`])
        })))
      yield* eventually(Effect.filterOrFail(Ref.get(handled), (all) => all.length >= streams.length * 2))
      for (const stream of streams) {
        yield* eventually(Effect.filterOrFail(Groups.stats(stream, group), (stats) => stats.pending === 0))
        expect((yield* Groups.stats(stream, group)).consumers.find((c) => c.name === "dead")?.pending).toBe(0)
      }
      // every delivery counted, once everything is acked: each entry exactly once
      expect([...(yield* Ref.get(handled))].sort()).toEqual(streams.flatMap((stream) => [`${stream} 1`, `${stream} 2`]).sort())
    }))
}
