/**
 * `Topic`: one definition of a stream and its Schema for the producer and
 * the consumer. Values are encoded before anything is written, decoded into
 * `message.data`; an entry that does not decode is dead-lettered at once.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, ParseResult, Ref, Schema } from "effect"
import * as Topic from "../src/Topic.js"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import * as RedisError from "../src/RedisError.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { eventually, pendingCount } from "./utils.js"

const Order = Schema.Struct({
  id: Schema.String,
  total: Schema.NumberFromString.pipe(Schema.positive()),
  placedAt: Schema.Date,
  lines: Schema.parseJson(Schema.Array(Schema.Struct({ sku: Schema.String, qty: Schema.Int }))),
  note: Schema.optional(Schema.String)
})
type Order = typeof Order.Type

const orders = (stream: string) => Topic.make({ stream, schema: Order })

const order = (n: number, extra: Partial<Order> = {}): Order => ({
  id: `o-${n}`,
  total: n + 0.5,
  placedAt: new Date(Date.UTC(2026, 11, 4, 12, 0, n)),
  lines: [{ sku: `sku-${n}`, qty: n }, { sku: "gift", qty: 1 }],
  ...extra
})

const xlen = (stream: string) => Effect.flatMap(Redis.Redis, (redis) => redis.send("XLEN", [stream]))

/** A consumer of `topic` that records each message's `data`, in order. */
const collecting = <A, I extends Topic.Encoded>(topic: Topic.Topic<A, I>, options: { readonly deadLetter?: Consumer.ConsumerDeadLetter } = {}) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<ReadonlyArray<A>>([])
    const fiber = yield* Effect.fork(Consumer.run({
      topic,
      group: "g",
      consumer: "c",
      block: 100,
      deadLetter: options.deadLetter,
      handler: (message) => Ref.update(seen, (all) => [...all, message.data])
    }))
    return { seen, fiber }
  })

layer(RedisTest.layer(), { excludeTestServices: true })("Topic", (it) => {
  it.effect("round-trips dates, numbers, nested JSON and optional fields from send and sendAll to message.data", () =>
    Effect.gen(function*() {
      const topic = orders("s-roundtrip")
      yield* Groups.create(topic.stream, "g")
      const first = order(1, { note: "leave at the door" })
      yield* Topic.send(topic, first)
      const ids = yield* Topic.sendAll(topic, [order(2), order(3)])
      expect(ids).toHaveLength(2)
      // what Redis holds: the schema's encoded side, strings, and no field for an absent optional
      const [entry] = yield* Streams.read(topic.stream)
      expect(entry!.fields).toEqual({
        id: "o-1",
        total: "1.5",
        placedAt: "2026-12-04T12:00:01.000Z",
        lines: JSON.stringify([{ sku: "sku-1", qty: 1 }, { sku: "gift", qty: 1 }]),
        note: "leave at the door"
      })
      const second = (yield* Streams.read(topic.stream))[1]!
      expect(Object.keys(second.fields)).not.toContain("note")
      const { fiber, seen } = yield* collecting(topic)
      const all = yield* eventually(Effect.filterOrFail(Ref.get(seen), (all) => all.length === 3))
      expect(all).toEqual([first, order(2), order(3)])
      expect(all[0]!.placedAt).toBeInstanceOf(Date)
      expect(yield* pendingCount(topic.stream, "g")).toBe(0)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a value that does not encode is a ParseError and nothing is written; in sendAll, none of the values is", () =>
    Effect.gen(function*() {
      const topic = orders("s-encode")
      const error = yield* Effect.flip(Topic.send(topic, order(1, { total: -3 })))
      expect(ParseResult.isParseError(error)).toBe(true)
      expect(String(error)).toContain("total")
      const batch = yield* Effect.flip(Topic.sendAll(topic, [order(1), order(2, { lines: [{ sku: "x", qty: 1.5 }] }), order(3)]))
      expect(ParseResult.isParseError(batch)).toBe(true)
      expect(yield* xlen(topic.stream)).toBe(0)
    }))

  it.effect("a schema that encodes a field to something other than a string is refused before the write", () =>
    Effect.gen(function*() {
      // a schema whose encoded side is not strings, as a JavaScript caller (or a cast) can give
      const loose = Topic.make({ stream: "s-loose", schema: Schema.Struct({ n: Schema.Number }) as unknown as Schema.Schema<{ n: number }, Topic.Encoded> })
      const error = yield* Effect.flip(Topic.send(loose, { n: 1 }))
      expect(RedisError.isRedisError(error) && error.reason).toBe("InvalidArgument")
      expect(error.message).toContain("\"n\"")
      expect(yield* xlen("s-loose")).toBe(0)
    }))

  it.effect("an invalid stream name is an InvalidArgument at send, and a topic given with stream or schema is refused", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(Topic.send(orders("has space"), order(1)))
      expect(RedisError.isRedisError(bad) && bad.reason).toBe("InvalidArgument")
      const both = yield* Effect.flip(Consumer.run({
        topic: orders("s-both"),
        stream: "s-other",
        group: "g",
        consumer: "c",
        handler: () => Effect.void
      } as unknown as Consumer.TopicOptions<Order, Topic.Encoded, never, void, never, never, never, never>))
      expect(RedisError.isRedisError(both) && both.reason).toBe("InvalidArgument")
      expect(both.message).toContain("topic")
    }))

  it.effect("an entry that does not decode is dead-lettered at once (DecodeFailed, to deadLetter.stream), never handled; the next is", () =>
    Effect.gen(function*() {
      const topic = orders("s-undecodable")
      const redis = yield* Redis.Redis
      yield* Groups.create(topic.stream, "g")
      // a producer that skipped the topic: total is not a number
      yield* redis.send("XADD", [topic.stream, "*", "id", "o-bad", "total", "lots", "placedAt", "2026-12-04T12:00:00Z", "lines", "[]"])
      yield* Topic.send(topic, order(2))
      const { fiber, seen } = yield* collecting(topic, { deadLetter: { stream: "s-undecodable-dlq" } })
      const letters = yield* eventually(Effect.filterOrFail(Gc.deadLetters("s-undecodable-dlq"), (all) => all.length === 1))
      expect(letters[0]).toMatchObject({ reason: "DecodeFailed", deliveries: 1, error: { tag: "ParseError" }, fields: { id: "o-bad", total: "lots" } })
      yield* eventually(Effect.filterOrFail(Ref.get(seen), (all) => all.length === 1))
      expect((yield* Ref.get(seen)).map((data) => data.id)).toEqual(["o-2"])
      expect(yield* eventually(Effect.filterOrFail(pendingCount(topic.stream, "g"), (n) => n === 0))).toBe(0)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("layerGroup takes a topic: the group is created on its stream and messages arrive decoded", () =>
    Effect.gen(function*() {
      const topic = orders("s-layer")
      const seen = yield* Ref.make<ReadonlyArray<Order>>([])
      yield* Topic.send(topic, order(7))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Consumer.layerGroup({
          topic,
          group: "group/layer",
          gc: false,
          block: 100,
          handler: (message) => Ref.update(seen, (all) => [...all, message.data])
        }))
        yield* eventually(Effect.filterOrFail(Ref.get(seen), (all) => all.length === 1))
      }))
      expect(yield* Ref.get(seen)).toEqual([order(7)])
    }))
})
