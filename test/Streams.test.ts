import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { MessageId, Naming, Redis, Streams } from "../src/index.js"
import { RedisTest } from "../src/testing/index.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg> = []) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

layer(RedisTest.layer(), { excludeTestServices: true })("Streams", (it) => {
  it.effect("xaddMap writes a record that read parses back (the seed's round trip)", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("maps")
      const id = yield* Streams.xaddMap(stream, "*", { foo: "bar", n: 42, bytes: Buffer.from("raw") })
      expect(MessageId.parseEither(id)._tag).toBe("Right")
      const entries = yield* Streams.read(stream, { count: 1 })
      expect(entries).toEqual([{ id, fields: { foo: "bar", n: "42", bytes: "raw" } }])
    }))

  it.effect("xaddMap with an explicit id; an id not greater than the top id is InvalidArgument and writes nothing", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("explicit")
      expect(yield* Streams.xaddMap(stream, "5-1", { a: "1" })).toBe("5-1")
      expect(yield* Streams.xaddMap(stream, "5-2", { a: "2" })).toBe("5-2")
      for (const id of ["5-2", "5-1", "4"]) {
        const error = yield* Effect.flip(Streams.xaddMap(stream, id, { a: "x" }))
        expect(error.reason).toBe("InvalidArgument")
      }
      const zero = yield* Effect.flip(Streams.xaddMap(Naming.streamName("zero"), "0-0", { a: "x" }))
      expect(zero.reason).toBe("InvalidArgument")
      expect(yield* send("XLEN", [stream])).toBe(2)
      expect(yield* send("EXISTS", [Naming.streamName("zero")])).toBe(0)
    }))

  it.effect("xaddMap refuses bad input before it reaches Redis", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("refused")
      const cases = [
        Streams.xaddMap(stream, "*", {}),
        Streams.xaddMap(stream, "not-an-id", { a: "1" }),
        Streams.xaddMap(stream, "1-2-3", { a: "1" }),
        Streams.xaddMap("has space", "*", { a: "1" }),
        Streams.xaddMap("", "*", { a: "1" }),
        Streams.xaddMap(stream, "*", { a: "1" }, { trim: { maxLen: -1 } }),
        Streams.xaddMap(stream, "*", { a: "1" }, { trim: { maxLen: 1.5 } }),
        Streams.xaddMap(stream, "*", { a: "1" }, { trim: { minId: "x" } })
      ]
      for (const attempt of cases) {
        const error = yield* Effect.flip(attempt)
        expect(error.reason).toBe("InvalidArgument")
      }
      expect(yield* send("EXISTS", [stream])).toBe(0)
    }))

  it.effect("xaddMap and xaddAll on a key that is not a stream are WrongType and leave it alone", () =>
    Effect.gen(function*() {
      yield* send("SET", ["plain-key", "x"])
      const error = yield* Effect.flip(Streams.xaddMap("plain-key", "*", { a: "1" }))
      expect(error.reason).toBe("WrongType")
      expect((yield* Effect.flip(Streams.xaddAll("plain-key", [{ a: "1" }, { a: "2" }]))).reason).toBe("WrongType")
      expect(yield* send("GET", ["plain-key"])).toBe("x")
    }))

  it.effect("trim by maxLen (exact and approximate) and by minId", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("trimmed")
      for (let i = 1; i <= 10; i++) yield* Streams.xaddMap(stream, `${i}-0`, { i }, { trim: { maxLen: 3 } })
      expect((yield* Streams.read(stream)).map((entry) => entry.id)).toEqual(["8-0", "9-0", "10-0"])
      yield* Streams.xaddMap(stream, "11-0", { i: 11 }, { trim: { minId: "10-0" } })
      expect((yield* Streams.read(stream)).map((entry) => entry.id)).toEqual(["10-0", "11-0"])
      yield* Streams.xaddMap(stream, "12-0", { i: 12 }, { trim: { maxLen: 1, approximate: true } })
      // Approximate trimming only drops whole nodes, never going below maxLen: these three share one node.
      expect(yield* send("XLEN", [stream])).toBe(3)
      const ids = yield* Streams.xaddAll(stream, [{ i: 13 }, { i: 14 }], { trim: { maxLen: 1 } })
      expect((yield* Streams.read(stream)).map((entry) => entry.id)).toEqual([ids[1]])
    }))

  it.effect("xaddAll writes many entries across batches and returns their ids in order", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("bulk")
      const records = Array.from({ length: 2500 }, (_, i) => ({ i, even: i % 2 === 0 ? "yes" : "no" }))
      const ids = yield* Streams.xaddAll(stream, records)
      expect(ids.length).toBe(2500)
      for (let i = 1; i < ids.length; i++) expect(MessageId.compare(ids[i - 1]!, ids[i]!)).toBe(-1)
      expect(yield* send("XLEN", [stream])).toBe(2500)
      const sample = yield* Streams.read(stream, { from: MessageId.prev(ids[1234]!), count: 1 })
      expect(sample).toEqual([{ id: ids[1234], fields: { i: "1234", even: "yes" } }])
      expect(yield* Streams.xaddAll(stream, [])).toEqual([])
    }))

  it.effect("xaddAll refuses an empty record anywhere and writes none of the batch", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("bulk-refused")
      const error = yield* Effect.flip(Streams.xaddAll(stream, [{ a: 1 }, { b: 2 }, {}]))
      expect(error.reason).toBe("InvalidArgument")
      const named = yield* Effect.flip(Streams.xaddAll("bad name", [{ a: 1 }]))
      expect(named.reason).toBe("InvalidArgument")
      expect(yield* send("EXISTS", [stream])).toBe(0)
    }))

  it.effect("read: from is exclusive, count limits, a missing stream is empty", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("reading")
      yield* Streams.xaddAll(stream, [{ n: 1 }, { n: 2 }, { n: 3 }])
      const all = yield* Streams.read(stream)
      expect(all.map((entry) => entry.fields["n"])).toEqual(["1", "2", "3"])
      const after = yield* Streams.read(stream, { from: all[0]!.id, count: 1 })
      expect(after).toEqual([all[1]])
      expect(yield* Streams.read(Naming.streamName("missing"))).toEqual([])
      expect((yield* Effect.flip(Streams.read(stream, { from: "x" }))).reason).toBe("InvalidArgument")
      expect((yield* Effect.flip(Streams.read(stream, { count: 0 }))).reason).toBe("InvalidArgument")
      yield* send("SET", ["not-a-stream", "x"])
      expect((yield* Effect.flip(Streams.read("not-a-stream"))).reason).toBe("WrongType")
    }))

  it.effect("fieldsToRecord (kvs->map)", () =>
    Effect.sync(() => {
      expect(Streams.fieldsToRecord(["foo", "bar", "n", 1])).toEqual({ foo: "bar", n: "1" })
      expect(Streams.fieldsToRecord([])).toEqual({})
      expect(Streams.fieldsToRecord(null)).toEqual({})
    }))

  it.effect("countAfter counts entries after an id in pages", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("counted")
      const ids = yield* Streams.xaddAll(stream, Array.from({ length: 2100 }, (_, i) => ({ i })))
      expect(yield* Streams.countAfter(stream, "0-0")).toBe(2100)
      expect(yield* Streams.countAfter(stream, ids[0]!)).toBe(2099)
      expect(yield* Streams.countAfter(stream, ids[1099]!)).toBe(1000)
      expect(yield* Streams.countAfter(stream, ids[2099]!)).toBe(0)
      yield* send("XDEL", [stream, ids[1500]!, ids[1501]!])
      expect(yield* Streams.countAfter(stream, ids[1099]!)).toBe(998)
      expect(yield* Streams.countAfter(stream, MessageId.next(ids[2099]!))).toBe(0)
      expect(yield* Streams.countAfter(Naming.streamName("nothing"), "0-0")).toBe(0)
    }))

  it.effect("allStreamKeys finds only streams matching the pattern", () =>
    Effect.gen(function*() {
      yield* Streams.xaddMap("stream/visible-a", "*", { a: 1 })
      yield* Streams.xaddMap("stream/visible-b", "*", { a: 1 })
      yield* Streams.xaddMap("persist-1", "*", { a: 1 })
      yield* send("SET", ["stream/not-a-stream", "x"])
      yield* send("HSET", ["persist-hash", "a", "1"])
      const all = yield* Streams.allStreamKeys()
      expect(all.has("stream/visible-a")).toBe(true)
      expect(all.has("stream/visible-b")).toBe(true)
      expect(all.has("stream/not-a-stream")).toBe(false)
      expect(all.has("persist-1")).toBe(false)
      for (const key of all) expect(key.startsWith("stream/")).toBe(true)
      expect(yield* Streams.allStreamKeys("persist-*")).toEqual(new Set(["persist-1"]))
      expect(yield* Streams.allStreamKeys("nothing-*")).toEqual(new Set())
    }))

  it.effect("allStreamKeys pages through SCAN over many keys", () =>
    Effect.gen(function*() {
      const keys = Array.from({ length: 3000 }, (_, i) => `many/${i}`)
      const redis = yield* Redis.Redis
      yield* redis.pipeline(keys.map((key, i): Redis.Command => i % 3 === 0 ? ["SET", [key, "x"]] : ["XADD", [key, "*", "i", i]]))
      const found = yield* Streams.allStreamKeys("many/*")
      expect(found.size).toBe(2000)
      expect(found.has("many/1")).toBe(true)
      expect(found.has("many/0")).toBe(false)
    }))
})
