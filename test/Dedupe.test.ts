/**
 * Deduplicated writes (`dedupe` on `Streams.xaddMap`, `xaddAll` and the
 * typed sends): within its ttl a key writes one entry, from any number of
 * processes at once, and every write of it gets that entry's id; after the
 * ttl it writes again. Bad keys and ttls are refused before anything is sent.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Metric, Schema } from "effect"
import { spawn } from "node:child_process"
import * as Redis from "../src/Redis.js"
import type * as RedisError from "../src/RedisError.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import * as Topic from "../src/Topic.js"
import { eventually } from "./utils.js"

const producer = new URL("./support/dedupeProducer.ts", import.meta.url).pathname

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))
const xlen = (stream: string) => send("XLEN", [stream])

/** Runs the producer process to its end and parses the pairs it printed. */
const runProducer = (url: string, stream: string, writes: number, keys: number, seed: number) =>
  Effect.async<ReadonlyArray<readonly [string, string]>, Error>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", producer, url, stream, String(writes), String(keys), String(seed)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    child.stdout.on("data", (chunk) => (out += String(chunk)))
    child.stderr.on("data", (chunk) => (err += String(chunk)))
    child.on("exit", (code) =>
      resume(code === 0 ? Effect.try({ try: () => JSON.parse(out.trim()), catch: (e) => new Error(String(e)) }) : Effect.fail(new Error(`producer exited ${code}: ${err}`))))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("deduplicated writes", (it) => {
  it.effect("a second write with the key writes nothing and returns the first id; another key writes; the metric counts it", () =>
    Effect.gen(function*() {
      const stream = "s-dedupe"
      const before = (yield* Metric.value(Streams.metrics.deduplicated)).count
      const first = yield* Streams.xaddMap(stream, "*", { order: "1" }, { dedupe: { key: "order-1", ttl: "1 minute" } })
      const again = yield* Streams.xaddMap(stream, "*", { order: "1", retried: "yes" }, { dedupe: { key: "order-1", ttl: "1 minute" } })
      expect(again).toBe(first)
      const other = yield* Streams.xaddMap(stream, "*", { order: "2" }, { dedupe: { key: "order-2", ttl: "1 minute" } })
      expect(other).not.toBe(first)
      expect(yield* xlen(stream)).toBe(2)
      expect((yield* Streams.read(stream)).map((entry) => entry.fields)).toEqual([{ order: "1" }, { order: "2" }])
      expect((yield* Metric.value(Streams.metrics.deduplicated)).count - before).toBe(1)
      // the key lives beside the stream, with the ttl
      const ttl = yield* send("PTTL", ["dedupe/{s-dedupe} order-1"])
      expect(ttl).toBeGreaterThan(50_000)
    }))

  it.effect("after the ttl the key writes again", () =>
    Effect.gen(function*() {
      const stream = "s-dedupe-ttl"
      const write = Streams.xaddMap(stream, "*", { n: "1" }, { dedupe: { key: "k", ttl: "150 millis" } })
      const first = yield* write
      // polled: each write before the key expires returns the first id and writes nothing
      const later = yield* eventually(Effect.filterOrFail(write, (id) => id !== first))
      expect(later > first).toBe(true)
      expect(yield* xlen(stream)).toBe(2)
    }))

  it.effect("xaddAll deduplicates per record, within one call and against earlier writes", () =>
    Effect.gen(function*() {
      const stream = "stream/{dd}all"
      const earlier = yield* Streams.xaddMap(stream, "*", { sku: "c" }, { dedupe: { key: "c", ttl: "1 minute" } })
      const ids = yield* Streams.xaddAll(stream, [{ sku: "a" }, { sku: "b" }, { sku: "a" }, { sku: "c" }], {
        dedupe: { key: (record) => String(record["sku"]), ttl: "1 minute" }
      })
      expect(ids[0]).toBe(ids[2])
      expect(ids[3]).toBe(earlier)
      expect(new Set(ids).size).toBe(3)
      expect(yield* xlen(stream)).toBe(3)
      // a hash-tagged stream's keys share its tag
      expect(yield* send("EXISTS", ["dedupe/{dd}stream/{dd}all a"])).toBe(1)
    }))

  it.effect("two processes writing 1 000 times over 500 keys at once write 500 entries; every write of a key got the same id", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const stream = "s-dedupe-race"
      const [one, two] = yield* Effect.all([runProducer(server.url, stream, 1_000, 500, 1), runProducer(server.url, stream, 1_000, 500, 2)], {
        concurrency: 2
      })
      expect(one).toHaveLength(1_000)
      expect(two).toHaveLength(1_000)
      const idsByKey = new Map<string, Set<string>>()
      for (const [key, id] of [...one, ...two]) idsByKey.set(key, (idsByKey.get(key) ?? new Set()).add(id))
      expect(idsByKey.size).toBe(500)
      expect([...idsByKey.values()].filter((ids) => ids.size !== 1)).toEqual([])
      expect(yield* xlen(stream)).toBe(500)
      const written = yield* Streams.read(stream)
      expect(new Set(written.map((entry) => entry.fields["key"])).size).toBe(500)
    }))

  it.effect("Topic.send and sendAll take dedupe, sendAll's key from the value", () =>
    Effect.gen(function*() {
      const Orders = Topic.make({ stream: "s-dedupe-topic", schema: Schema.Struct({ id: Schema.String, total: Schema.NumberFromString }) })
      const first = yield* Topic.send(Orders, { id: "o-1", total: 5 }, { dedupe: { key: "o-1", ttl: "1 minute" } })
      const ids = yield* Topic.sendAll(Orders, [{ id: "o-1", total: 5 }, { id: "o-2", total: 7 }], { dedupe: { key: (order) => order.id, ttl: "1 minute" } })
      expect(ids[0]).toBe(first)
      expect(yield* xlen(Orders.stream)).toBe(2)
    }))

  it.effect("an empty key, a ttl below 1 ms, or a stream with } but no hash tag is an InvalidArgument, and nothing is written", () =>
    Effect.gen(function*() {
      const stream = "s-dedupe-bad"
      const refused: ReadonlyArray<Effect.Effect<unknown, RedisError.RedisError, Redis.Redis>> = [
        Streams.xaddMap(stream, "*", { n: 1 }, { dedupe: { key: "", ttl: "1 minute" } }),
        Streams.xaddMap(stream, "*", { n: 1 }, { dedupe: { key: "k", ttl: -1 } }),
        Streams.xaddMap(stream, "*", { n: 1 }, { dedupe: { key: "k", ttl: 0 } }),
        Streams.xaddMap(stream, "*", { n: 1 }, { dedupe: { key: "k", ttl: NaN } }),
        Streams.xaddMap(stream, "*", { n: 1 }, { dedupe: { key: 5 as unknown as string, ttl: "1 minute" } }),
        Streams.xaddMap("s-odd}name", "*", { n: 1 }, { dedupe: { key: "k", ttl: "1 minute" } }),
        Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }], { dedupe: { key: (record) => (record["n"] === 2 ? "" : "k"), ttl: "1 minute" } })
      ]
      for (const [i, effect] of refused.entries()) {
        expect(yield* Effect.flip(effect), `case ${i}`).toMatchObject({ _tag: "RedisError", reason: "InvalidArgument" })
      }
      expect(yield* xlen(stream)).toBe(0)
      expect(yield* send("EXISTS", ["dedupe/{s-dedupe-bad} k"])).toBe(0)
    }))

  it.effect("a key that is not a stream is a WrongType, and the dedupe key is not set", () =>
    Effect.gen(function*() {
      yield* send("SET", ["s-dedupe-string", "x"])
      const error = yield* Effect.flip(Streams.xaddMap("s-dedupe-string", "*", { n: 1 }, { dedupe: { key: "k", ttl: "1 minute" } }))
      expect(error).toMatchObject({ _tag: "RedisError", reason: "WrongType" })
      expect(yield* send("EXISTS", ["dedupe/{s-dedupe-string} k"])).toBe(0)
    }))
})
