import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { Cluster } from "ioredis"
import { Naming, Streams } from "../../src/index.js"
import * as replies from "../../src/internal/redis/replies.js"
import * as Slots from "../../src/internal/redis/slots.js"
import * as Redis from "../../src/Redis.js"
import { RedisTest } from "../../src/testing/index.js"
import { blockedClients, eventually } from "../utils.js"

describe("Redis.layerCluster", () => {
  layer(Layer.empty)((it) => {
    it.effect("fails with reason Connection, naming the node, when no node can be reached", () =>
      Effect.gen(function*() {
        const port = yield* RedisTest.freePort
        const error = yield* Effect.flip(
          Layer.build(Redis.layerCluster([`127.0.0.1:${port}`], { connectTimeout: "1 second" })).pipe(Effect.scoped)
        )
        expect(error.reason).toBe("Connection")
        expect(error.message).toContain(String(port))
      }))

    it.effect("masters of a cluster client that is not connected fails with reason Connection", () =>
      Effect.gen(function*() {
        const client = new Cluster([{ host: "127.0.0.1", port: yield* RedisTest.freePort }], { lazyConnect: true })
        const error = yield* Effect.flip(Redis.fromClient(client).masters)
        expect(error.reason).toBe("Connection")
      }))
  })
})

const keySlot = (key: string) => Effect.flatMap(Redis.Redis, (redis) => redis.send("CLUSTER", ["KEYSLOT", key]))

/** Every key of the pattern on one master, SCAN page by page. */
const scanAll = (master: Redis.Sender, pattern: string) =>
  Effect.gen(function*() {
    const keys: Array<string> = []
    let cursor = "0"
    do {
      const page = yield* Effect.flatMap(master.send("SCAN", [cursor, "MATCH", pattern, "COUNT", 100, "TYPE", "stream"]), replies.scan)
      keys.push(...page.keys)
      cursor = page.cursor
    } while (cursor !== "0")
    return keys
  })

/** Stream names that land on different masters, found by asking the cluster. */
const onDifferentMasters = (prefix: string, count: number) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const byMaster = new Map<string, string>()
    for (let i = 0; byMaster.size < count && i < 100; i++) {
      const key = Naming.streamName(`${prefix}-${i}`)
      yield* redis.send("XADD", [key, "*", "probe", "1"])
      // A master that does not hold the key answers MOVED.
      const owners = yield* Effect.forEach(yield* redis.masters, (master) => Effect.either(master.send("EXISTS", [key])))
      const owner = owners.findIndex((exists) => exists._tag === "Right" && exists.right === 1)
      if (!byMaster.has(String(owner))) byMaster.set(String(owner), key)
    }
    return [...byMaster.values()]
  })

layer(RedisTest.layerCluster(), { excludeTestServices: true, timeout: "60 seconds" })("Redis Cluster", (it) => {
  it.effect("connects to every master of the cluster", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const cluster = yield* RedisTest.RedisTestCluster
      expect(redis.isCluster).toBe(true)
      expect(cluster.nodes).toHaveLength(3)
      const ports = yield* Redis.onMasters("CONFIG", ["GET", "port"])
      expect(new Set(ports.map((reply) => Number((reply as Array<string>)[1])))).toEqual(
        new Set(cluster.nodes.map((node) => node.port))
      )
      expect(yield* redis.send("PING")).toBe("PONG")
    }))

  it.effect("SCAN over the masters finds streams on each of them, each once", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const written = Array.from({ length: 30 }, (_, i) => Naming.streamName(`scan-${i}`))
      yield* Effect.forEach(written, (key) => redis.send("XADD", [key, "*", "n", "1"]))
      yield* redis.send("SET", ["stream/scan-not-a-stream", "x"])
      const perMaster = yield* Effect.forEach(yield* redis.masters, (master) => scanAll(master, "stream/scan-*"))
      expect(perMaster).toHaveLength(3)
      for (const keys of perMaster) expect(keys.length).toBeGreaterThan(0)
      expect(perMaster.flat().sort()).toEqual([...written].sort())
      expect([...(yield* Streams.allStreamKeys("stream/scan-*"))].sort()).toEqual([...written].sort())
    }))

  it.scoped("XADD, XREADGROUP and XACK on streams in different slots, each on its node", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const streams = yield* onDifferentMasters("rw", 3)
      expect(streams).toHaveLength(3)
      const connection = yield* redis.dedicated("consumer/rw/0")
      for (const stream of streams) {
        yield* redis.send("XGROUP", ["CREATE", stream, "g", "$", "MKSTREAM"])
        const ids = yield* Effect.forEach([1, 2, 3], (n) => redis.send("XADD", [stream, "*", "n", n]))
        const read = yield* Effect.flatMap(
          connection.send("XREADGROUP", ["GROUP", "g", "c", "COUNT", 10, "BLOCK", 1000, "STREAMS", stream, ">"]),
          (reply) => replies.streams("XREADGROUP", reply)
        )
        const entries = read.flatMap((s) => s.entries)
        expect(entries.map((entry) => entry.id)).toEqual(ids)
        expect(yield* redis.send("XACK", [stream, "g", ...entries.map((entry) => entry.id)])).toBe(3)
        const pending = yield* Effect.flatMap(redis.send("XPENDING", [stream, "g"]), replies.pendingSummary)
        expect(pending.count).toBe(0)
      }
      const names = yield* Effect.flatMap(
        Redis.onMasters("CLIENT", ["LIST"]),
        Effect.forEach((reply) => replies.clientList(reply))
      )
      for (const clients of names) expect(clients.map((client) => client.name)).toContain("consumer/rw/0")
    }))

  it.scoped("interrupting a blocking read on a dedicated connection ends it; the connection reconnects", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const stream = Naming.streamName("blocking")
      yield* redis.send("XGROUP", ["CREATE", stream, "g", "$", "MKSTREAM"])
      const connection = yield* redis.dedicated("consumer/blocking/0")
      const read = (block: number) =>
        connection.send("XREADGROUP", ["GROUP", "g", "c", "COUNT", 1, "BLOCK", block, "STREAMS", stream, ">"])
      const fiber = yield* Effect.fork(read(0))
      yield* eventually(Effect.filterOrFail(blockedClients, (n) => n === 1))
      expect(yield* connection.clientId).toBeGreaterThan(0)
      yield* Fiber.interrupt(fiber)
      yield* eventually(Effect.filterOrFail(blockedClients, (n) => n === 0))
      const id = yield* redis.send("XADD", [stream, "*", "after", "interrupt"])
      const entries = yield* Effect.flatMap(read(1000), (reply) => replies.streams("XREADGROUP", reply))
      expect(entries.flatMap((s) => s.entries.map((entry) => entry.id))).toEqual([id])
    }))

  it.effect("a transaction or pipeline over two slots fails with CrossSlot before anything is sent", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const [a, b] = ["stream/cross-a", "stream/cross-b"]
      const [slotA, slotB] = [yield* keySlot(a), yield* keySlot(b)]
      expect(slotA).not.toBe(slotB)
      const transaction = yield* Effect.flip(redis.transaction([["XADD", [a, "*", "f", "1"]], ["XADD", [b, "*", "f", "1"]]]))
      expect(transaction.reason).toBe("CrossSlot")
      for (const text of [a, b, `slot ${slotA}`, `slot ${slotB}`]) expect(transaction.message).toContain(text)
      const pipeline = yield* Effect.flip(redis.pipeline([["XLEN", [a]], ["XLEN", [b]]]))
      expect(pipeline.reason).toBe("CrossSlot")
      const command = yield* Effect.flip(redis.send("XREAD", ["STREAMS", a, b, "0", "0"]))
      expect(command.reason).toBe("CrossSlot")
      expect(yield* redis.send("EXISTS", [a])).toBe(0)
      expect(yield* redis.send("EXISTS", [b])).toBe(0)
    }))

  it.effect("a stream and its DLQ with a shared hash tag go in one transaction", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const stream = Naming.streamName("readings", { hashTag: "sensor" })
      const dlq = Naming.dlqName(stream)
      expect(yield* keySlot(stream)).toBe(yield* keySlot(dlq))
      const replies = yield* redis.transaction([["XADD", [stream, "*", "f", "1"]], ["XADD", [dlq, "*", "f", "2"]]])
      expect(replies).toHaveLength(2)
      expect(yield* redis.send("XLEN", [stream])).toBe(1)
      expect(yield* redis.send("XLEN", [dlq])).toBe(1)
    }))

  it.effect("the client computes the slots the server does", () =>
    Effect.gen(function*() {
      for (const key of ["a", "stream/b", "stream/{sensor}readings", "{}x", "{a}{b}", Naming.dlqName("stream/{x}y")]) {
        expect(Slots.slotOf(key)).toBe(yield* keySlot(key))
      }
    }))

  it.effect("a node restarted from its handle rejoins; the layer writes to it again", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const cluster = yield* RedisTest.RedisTestCluster
      const node = cluster.nodes[2]!
      yield* node.restart
      yield* cluster.waitUntilOk
      const lastSlots = Array.from({ length: 20 }, (_, i) => Naming.streamName(`restarted-${i}`))
        .filter((key) => Slots.slotOf(key) >= 10922)
      expect(lastSlots.length).toBeGreaterThan(0)
      yield* eventually(redis.send("XADD", [lastSlots[0]!, "*", "f", "1"]), "10 seconds")
      const [master] = yield* Effect.flatMap(Redis.Redis, (redis) => redis.masters).pipe(
        Effect.flatMap(Effect.filter((master) => Effect.map(master.send("CONFIG", ["GET", "port"]), (reply) => (reply as Array<string>)[1] === String(node.port))))
      )
      expect(yield* master!.send("XLEN", [lastSlots[0]!])).toBe(1)
    }))
})
