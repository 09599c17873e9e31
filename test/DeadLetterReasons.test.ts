/**
 * Dead letters that say why: each letter records its reason, the handler's
 * last error (tag, message, own fields) and when it was dead-lettered,
 * whoever moved it (gc under its default thresholds, the consumer's own
 * `retry` + `deadLetter`); its metadata is namespaced apart from the
 * message's own fields; letters of the previous format are still listed
 * and redriven.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Logger, Schedule, Schema } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { eventually, pendingCount } from "./utils.js"

class PoisonError extends Schema.TaggedError<PoisonError>()("PoisonError", {
  orderId: Schema.String,
  message: Schema.String
}) {}

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

let counter = 0
const fresh = () => {
  const tag = `reasons${++counter}`
  return { stream: `stream/{${tag}}orders`, dlq: `stream/{${tag}}dlq`, group: `group/${tag}`, consumer: `consumer/${tag}/0` }
}

/** Writes three orders, the second one poison (its handler always fails with PoisonError). */
const orders = (stream: string) =>
  Streams.xaddAll(stream, [{ order: "a", stream: "web-shop" }, { order: "poison", stream: "web-shop" }, { order: "c", stream: "web-shop" }])

const handler = (message: Consumer.StreamMessage) =>
  message.fields["order"] === "poison" ? Effect.fail(new PoisonError({ orderId: "poison", message: "the order has no items" })) : Effect.void

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Dead letters say why", (it) => {
  it.effect("gc under its default thresholds: reason Deliveries, the handler's last error, the time; metadata apart from the message's stream field", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* orders(names.stream)
      // retry: false, so the ten deliveries of gc's default threshold come at once
      const fiber = yield* Effect.fork(Consumer.run({ ...names, block: "50 millis", retry: false, handler }))
      const before = Date.now()
      // gc's default dead-letter threshold is 10 deliveries
      yield* eventually(Effect.filterOrFail(Gc.collect(names.stream, names.group, { dlq: { deliveries: 10, stream: names.dlq } }), (actions) =>
        actions.some((action) => action._tag === "Dlq")), "20 seconds")
      const [letter] = yield* Gc.deadLetters(names.dlq)
      expect(letter).toMatchObject({
        stream: names.stream,
        group: names.group,
        consumer: names.consumer,
        reason: "Deliveries",
        error: { tag: "PoisonError", message: "the order has no items", data: { orderId: "poison" } },
        fields: { order: "poison", stream: "web-shop" }
      })
      expect(letter!.deliveries).toBeGreaterThanOrEqual(10)
      expect(letter!.deadLetteredAt.getTime()).toBeGreaterThanOrEqual(before - 1_000)
      expect(letter!.deadLetteredAt.getTime()).toBeLessThanOrEqual(Date.now() + 1_000)
      // a map reader sees the origin under dlq:stream and the message's own stream field unchanged
      const [raw] = (yield* send("XRANGE", [names.dlq, "-", "+"])) as Array<[string, Array<string>]>
      const kvs = raw![1]
      const map = new Map(Array.from({ length: kvs.length / 2 }, (_, i) => [kvs[2 * i]!, kvs[2 * i + 1]!]))
      expect(map.get("dlq:stream")).toBe(names.stream)
      expect(map.get("stream")).toBe("web-shop")
      expect(map.get("dlq:reason")).toBe("Deliveries")
      // the recorded error went with the letter
      expect(yield* send("EXISTS", [`errors/{${names.stream.slice(8, names.stream.indexOf("}"))}}${names.stream}`])).toBe(0)
      yield* Fiber.interrupt(fiber)
      // redriven, it carries the same story
      const [redriven] = yield* Gc.redrive(names.dlq)
      expect(redriven).toMatchObject({ reason: "Deliveries", error: { tag: "PoisonError" } })
    }))

  it.effect("retry + deadLetter: reason RetriesExhausted with the last error; one WARN naming the entry and its reason", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const [, poisonId] = yield* orders(names.stream)
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message[0] : message))
      })
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "50 millis",
        retry: Schedule.recurs(2),
        deadLetter: { stream: names.dlq },
        handler
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
      const [letter] = yield* eventually(Effect.filterOrFail(Gc.deadLetters(names.dlq), (all) => all.length === 1))
      expect(letter).toMatchObject({
        id: poisonId,
        reason: "RetriesExhausted",
        deliveries: 3,
        error: { tag: "PoisonError", message: "the order has no items", data: { orderId: "poison" } }
      })
      expect(yield* pendingCount(names.stream, names.group)).toBe(0)
      expect(warnings.filter((line) => line.includes("dead-lettered"))).toEqual([
        `${poisonId} of ${names.stream} dead-lettered to ${names.dlq} (RetriesExhausted, after 3 deliveries)`
      ])
      // and each failure, with the error's own fields
      expect(warnings.filter((line) => line.startsWith("handler failed"))).toEqual([1, 2, 3].map((n) =>
        `handler failed on ${poisonId} of ${names.stream} (delivery ${n}): PoisonError: the order has no items {"orderId":"poison"}`
      ))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("letters of the previous format (flat metadata) are still listed and redriven", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const dlqId = String(yield* send("XADD", [
        names.dlq, "*", "stream", names.stream, "group", names.group, "consumer", "c", "id", "1-0", "idle", 5, "deliveries", 3, "n", "1"
      ]))
      const [letter] = yield* Gc.deadLetters(names.dlq)
      expect(letter).toMatchObject({ dlqId, stream: names.stream, id: "1-0", deliveries: 3, reason: "Unknown", fields: { n: "1" } })
      expect(letter!.error).toBe(undefined)
      expect(letter!.deadLetteredAt.getTime()).toBe(Number(dlqId.split("-")[0]))
      expect(yield* Gc.redrive(names.dlq)).toHaveLength(1)
      expect((yield* Streams.read(names.stream)).map((entry) => entry.fields)).toEqual([{ n: "1" }])
    }))

  it.effect("an entry handled after failing leaves no recorded error behind", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* Streams.xaddMap(names.stream, "*", { n: 1 })
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "50 millis",
        retry: Schedule.spaced("10 millis"),
        handler: (message) => (message.deliveries === 1 ? Effect.fail("flaky") : Effect.void)
      }))
      yield* eventually(Effect.filterOrFail(pendingCount(names.stream, names.group), (n) => n === 0))
      const key = `errors/{${names.stream.slice(8, names.stream.indexOf("}"))}}${names.stream}`
      yield* eventually(Effect.filterOrFail(send("HLEN", [key]), (n) => Number(n) === 0))
      yield* Fiber.interrupt(fiber)
    }))
})
