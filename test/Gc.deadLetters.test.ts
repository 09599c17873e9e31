import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Gc from "../src/Gc.js"
import * as Redis from "../src/Redis.js"
import { slotOf } from "../src/internal/redis/slots.js"
import { RedisTest } from "../src/testing/index.js"
import { names, read, setup } from "./gcUtils.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

/** `n` entries of `stream` dead-lettered to `dlq` (after one delivery), with `extra` fields. */
const deadLettered = (stream: string, group: string, consumer: string, dlq: string, n: number, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const ids = yield* setup(stream, group, n, extra)
    yield* read(stream, group, consumer, n)
    yield* Gc.collect(stream, group, { dlq: { deliveries: 1, stream: dlq } })
    return ids
  })

const xlen = (key: string) => send("XLEN", [key])

layer(RedisTest.layer(), { excludeTestServices: true })("Gc.deadLetters", (it) => {
  it.effect("lists dead letters parsed, filtered by origin stream and group, at most count", () =>
    Effect.gen(function*() {
      const a = names()
      const b = names()
      const dlq = a.dlq
      // an original field named like a metadata field does not confuse the parser
      const idsA = yield* deadLettered(a.stream, a.group, a.consumer(0), dlq, 3, { id: "mine", stream: "x" })
      const idsB = yield* deadLettered(b.stream, b.group, b.consumer(0), dlq, 2)
      yield* send("XADD", [dlq, "*", "not", "a dead letter"])
      const all = yield* Gc.deadLetters(dlq)
      expect(all.map((l) => l.id)).toEqual([...idsA, ...idsB])
      expect(all[0]).toMatchObject({
        stream: a.stream,
        group: a.group,
        consumer: a.consumer(0),
        id: idsA[0],
        deliveries: 1,
        fields: { n: "0", id: "mine", stream: "x" }
      })
      expect((yield* Gc.deadLetters(dlq, { stream: b.stream })).map((l) => l.id)).toEqual(idsB)
      expect((yield* Gc.deadLetters(dlq, { group: a.group, count: 2 })).map((l) => l.id)).toEqual(idsA.slice(0, 2))
      expect(yield* Gc.deadLetters(dlq, { count: 0 })).toEqual([])
      expect(yield* Gc.deadLetters("stream/never-written")).toEqual([])
      yield* send("SET", ["plain-key", "x"])
      expect((yield* Effect.flip(Gc.deadLetters("plain-key"))).reason).toBe("WrongType")
    }))

  it.effect("keeps each message, also of sparse pending entries, and the metadata of an entry deleted from the stream", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 10)
      yield* read(stream, group, consumer(0), 10)
      yield* send("XACK", [stream, group, ...ids.slice(1, 8)])
      yield* send("XDEL", [stream, ids[8]!])
      const actions = yield* Gc.collect(stream, group, { dlq: { deliveries: 1, stream: dlq } })
      expect(actions).toEqual([ids[0]!, ids[8]!, ids[9]!].map((id) => Gc.GcAction.Dlq({ id, consumer: consumer(0) })))
      expect((yield* Gc.deadLetters(dlq)).map((l) => [l.id, l.fields])).toEqual([
        [ids[0], { n: "0" }],
        [ids[8], null],
        [ids[9], { n: "9" }]
      ])
    }))
})

layer(RedisTest.layer(), { excludeTestServices: true })("Gc.redrive", (it) => {
  it.effect("puts dead letters back on their origin stream and removes them from the DLQ; the group gets them again", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* deadLettered(stream, group, consumer(0), dlq, 3, { kind: "poison" })
      const redriven = yield* Gc.redrive(dlq, { count: 2 })
      expect(redriven.map((r) => r.id)).toEqual(ids.slice(0, 2))
      expect(yield* xlen(dlq)).toBe(1)
      const again = yield* read(stream, group, consumer(1), 10)
      expect(again.map((e) => e.id)).toEqual(redriven.map((r) => r.redrivenId))
      expect(again.map((e) => e.fields)).toEqual([{ n: "0", kind: "poison" }, { n: "1", kind: "poison" }])
      expect((yield* Gc.redrive(dlq)).map((r) => r.id)).toEqual(ids.slice(2))
      expect(yield* xlen(dlq)).toBe(0)
      expect(yield* Gc.redrive(dlq)).toEqual([])
    }))

  it.effect("filters by origin stream and group", () =>
    Effect.gen(function*() {
      const a = names()
      const b = names()
      yield* deadLettered(a.stream, a.group, a.consumer(0), a.dlq, 2)
      const idsB = yield* deadLettered(b.stream, b.group, b.consumer(0), a.dlq, 2)
      expect((yield* Gc.redrive(a.dlq, { stream: b.stream, group: b.group })).map((r) => r.id)).toEqual(idsB)
      expect((yield* Gc.redrive(a.dlq, { group: "group/other" }))).toEqual([])
      expect((yield* Gc.deadLetters(a.dlq)).map((l) => l.stream)).toEqual([a.stream, a.stream])
      expect(yield* xlen(b.stream)).toBe(4)
    }))

  it.effect("a missing origin stream is a clear NoSuchKey error and the DLQ is untouched; it is never recreated", () =>
    Effect.gen(function*() {
      const a = names()
      const b = names()
      yield* deadLettered(a.stream, a.group, a.consumer(0), a.dlq, 1)
      yield* deadLettered(b.stream, b.group, b.consumer(0), a.dlq, 1)
      const before = yield* Gc.deadLetters(a.dlq)
      yield* send("DEL", [b.stream])
      const error = yield* Effect.flip(Gc.redrive(a.dlq))
      expect(error.reason).toBe("NoSuchKey")
      expect(error.message).toContain(b.stream)
      expect(error.message).toContain("does not exist")
      expect(yield* Gc.deadLetters(a.dlq)).toEqual(before)
      expect(yield* send("EXISTS", [b.stream])).toBe(0)
      expect(yield* xlen(a.stream)).toBe(1)
      // the other origin can still be redriven on its own
      expect((yield* Gc.redrive(a.dlq, { stream: a.stream })).length).toBe(1)
    }))

  it.effect("letters written without their message stay in the DLQ", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      yield* setup(stream, group, 1)
      yield* read(stream, group, consumer(0), 1)
      yield* Gc.collect(stream, group, { dlq: { deliveries: 1, stream: dlq, includeMessage: false } })
      expect(yield* Gc.redrive(dlq)).toEqual([])
      expect(yield* xlen(dlq)).toBe(1)
      expect(yield* xlen(stream)).toBe(1)
    }))

  it.effect("on a cluster, an origin in another slot than the DLQ is refused with CrossSlot", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      yield* deadLettered(stream, group, consumer(0), dlq, 1)
      const error = yield* Effect.flatMap(Redis.Redis, (redis) =>
        Effect.flip(Effect.provideService(Gc.redrive(dlq), Redis.Redis, { ...redis, isCluster: slotOf(stream) !== slotOf(dlq) })))
      expect(error.reason).toBe("CrossSlot")
      expect(yield* xlen(dlq)).toBe(1)
    }))
})

describe("cluster slots", () => {
  it("matches Redis's CRC16 slots and honours hash tags", () => {
    expect(slotOf("foo")).toBe(12182)
    expect(slotOf("bar")).toBe(5061)
    expect(slotOf("{user1000}.following")).toBe(slotOf("{user1000}.followers"))
    expect(slotOf("{}x")).toBe(slotOf("{}x"))
    expect(slotOf("{orders}:dlq")).toBe(slotOf("orders"))
  })
})
