import { expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Metric, MetricLabel, ParseResult, Ref, Schema, Tracer } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import { addEntries, commandCalls, eventually, pendingCount, pendingEntries } from "./utils.js"

/** A consumer recording the ids it handled; `fail(id)` decides which ones fail. */
const recording = (stream: string, group: string, consumer: string, options: {
  readonly fail?: (fields: Readonly<Record<string, string>>) => boolean
  readonly block?: number
  readonly count?: number
} = {}) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<ReadonlyArray<Consumer.StreamMessage>>([])
    const fiber = yield* Effect.fork(Consumer.run({
      stream,
      group,
      consumer,
      block: options.block ?? 100,
      count: options.count,
      handler: (message) =>
        Effect.zipRight(
          Ref.update(seen, (all) => [...all, message]),
          options.fail?.(message.fields) ? Effect.fail("boom" as const) : Effect.void
        )
    }))
    return { seen, fiber }
  })

layer(RedisTest.layer(), { excludeTestServices: true })("Consumer.run", (it) => {
  it.effect("handles its own pending entries before new ones, acking each", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      yield* Groups.create("s-order", "g")
      const old = yield* addEntries("s-order", 3)
      // deliver the first three to c without acking them: they are c's pending entries
      yield* redis.send("XREADGROUP", ["GROUP", "g", "c", "COUNT", 3, "STREAMS", "s-order", ">"])
      const fresh = yield* addEntries("s-order", 2, 3)
      const { fiber, seen } = yield* recording("s-order", "g", "c", { count: 2 })
      yield* eventually(Effect.map(Ref.get(seen), (all) => expect(all.length).toBe(5)))
      const all = yield* Ref.get(seen)
      expect(all.map((m) => m.id)).toEqual([...old, ...fresh])
      expect(all.map((m) => m.fields.n)).toEqual(["0", "1", "2", "3", "4"])
      expect(all[0]).toMatchObject({ stream: "s-order", group: "g", consumer: "c", deliveries: 2 })
      expect(all[4]!.deliveries).toBe(1)
      yield* eventually(Effect.map(pendingCount("s-order", "g"), (n) => expect(n).toBe(0)))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("keeps the stream's order with concurrency 1 across many batches", () =>
    Effect.gen(function*() {
      yield* Groups.create("s-many", "g", { from: "0" })
      const ids = yield* addEntries("s-many", 120)
      const { fiber, seen } = yield* recording("s-many", "g", "c", { count: 7 })
      yield* eventually(Effect.map(Ref.get(seen), (all) => expect(all.length).toBe(120)))
      expect((yield* Ref.get(seen)).map((m) => m.id)).toEqual(ids)
      yield* eventually(Effect.map(pendingCount("s-many", "g"), (n) => expect(n).toBe(0)))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("acks a batch with one XACK", () =>
    Effect.gen(function*() {
      yield* Groups.create("s-xack", "g", { from: "0" })
      yield* addEntries("s-xack", 50)
      const before = yield* commandCalls("XACK")
      const { fiber, seen } = yield* recording("s-xack", "g", "c", { count: 50 })
      yield* eventually(Effect.map(Ref.get(seen), (all) => expect(all.length).toBe(50)))
      yield* eventually(Effect.map(pendingCount("s-xack", "g"), (n) => expect(n).toBe(0)))
      expect((yield* commandCalls("XACK")) - before).toBe(1)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("leaves a failed entry pending and retries it from the backlog when the stream is quiet", () =>
    Effect.gen(function*() {
      yield* Groups.create("s-fail", "g")
      const failing = yield* Ref.make(true)
      const attempts = yield* Ref.make(0)
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "s-fail",
        group: "g",
        consumer: "c",
        block: 100,
        handler: (message) =>
          message.fields.n === "0"
            ? Effect.zipRight(
              Ref.update(attempts, (n) => n + 1),
              Effect.flatMap(Ref.get(failing), (fail) => (fail ? Effect.fail("poison") : Effect.void))
            )
            : Effect.void
      }))
      yield* addEntries("s-fail", 3)
      yield* eventually(Effect.map(Ref.get(attempts), (n) => expect(n).toBeGreaterThanOrEqual(3)))
      const pending = yield* pendingEntries("s-fail", "g")
      expect(pending.length).toBe(1)
      expect(pending[0]!.deliveries).toBeGreaterThanOrEqual(3)
      yield* Ref.set(failing, false)
      yield* eventually(Effect.map(pendingCount("s-fail", "g"), (n) => expect(n).toBe(0)))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("acks, counts and skips pending entries trimmed from the stream", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      yield* Groups.create("s-trim", "g")
      const ids = yield* addEntries("s-trim", 3)
      yield* redis.send("XREADGROUP", ["GROUP", "g", "c", "COUNT", 3, "STREAMS", "s-trim", ">"])
      yield* redis.send("XDEL", ["s-trim", ids[0]!, ids[1]!])
      const trimmed = Consumer.metrics.trimmed.pipe(Metric.taggedWithLabels([
        MetricLabel.make("stream", "s-trim"),
        MetricLabel.make("group", "g")
      ]))
      const { fiber, seen } = yield* recording("s-trim", "g", "c")
      yield* eventually(Effect.map(Ref.get(seen), (all) => expect(all.map((m) => m.id)).toEqual([ids[2]])))
      yield* eventually(Effect.map(pendingCount("s-trim", "g"), (n) => expect(n).toBe(0)))
      expect((yield* Metric.value(trimmed)).count).toBe(2)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("decodes fields with a schema; a decode failure carries the ParseError and is dead-lettered at once, never retried", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      yield* Groups.create("s-schema", "g")
      const Reading = Schema.Struct({ sensor: Schema.String, value: Schema.NumberFromString })
      const decoded = yield* Ref.make<ReadonlyArray<typeof Reading.Type>>([])
      const failures = yield* Ref.make<ReadonlyArray<unknown>>([])
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "s-schema",
        group: "g",
        consumer: "c",
        block: 100,
        schema: Reading,
        handler: (message) => Ref.update(decoded, (all) => [...all, message.data]),
        control: (event) =>
          event._tag === "HandlerFailed"
            ? Effect.as(Ref.update(failures, (all) => [...all, Cause.squash(event.cause)]), Consumer.Control.Recur())
            : Consumer.defaultControl(event)
      }))
      yield* redis.send("XADD", ["s-schema", "*", "sensor", "a", "value", "1.5"])
      yield* redis.send("XADD", ["s-schema", "*", "sensor", "b", "value", "not a number"])
      yield* eventually(Effect.map(Ref.get(failures), (all) => expect(all.length).toBeGreaterThanOrEqual(1)))
      expect(yield* Ref.get(decoded)).toEqual([{ sensor: "a", value: 1.5 }])
      expect(ParseResult.isParseError((yield* Ref.get(failures))[0])).toBe(true)
      // not retried: dead-lettered at once (no deadLetter option: gc's default dead-letter stream)
      const letters = yield* eventually(Effect.filterOrFail(Gc.deadLetters("stream/dlq", { stream: "s-schema" }), (all) => all.length === 1))
      expect(letters[0]).toMatchObject({ reason: "DecodeFailed", deliveries: 1, error: { tag: "ParseError" }, fields: { sensor: "b", value: "not a number" } })
      expect(yield* pendingCount("s-schema", "g")).toBe(0)
      expect(yield* Ref.get(failures)).toHaveLength(1)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("refreshes the idle time of an entry whose handler runs longer than the heartbeat", () =>
    Effect.gen(function*() {
      yield* Groups.create("s-heart", "g")
      const release = yield* Effect.makeLatch(false)
      const started = yield* Ref.make(0)
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "s-heart",
        group: "g",
        consumer: "c",
        block: 100,
        heartbeat: 50,
        handler: () => Effect.zipRight(Ref.set(started, Date.now()), release.await)
      }))
      yield* addEntries("s-heart", 1)
      // without the heartbeat the idle time would grow with the handler's running time
      yield* eventually(Effect.gen(function*() {
        const since = yield* Ref.get(started)
        expect(since).toBeGreaterThan(0)
        const running = Date.now() - since
        const [entry] = yield* pendingEntries("s-heart", "g")
        expect(running).toBeGreaterThan(800)
        expect(entry!.idle).toBeLessThan(running - 500)
        expect(entry!.deliveries).toBe(1)
      }))
      yield* release.open
      yield* eventually(Effect.map(pendingCount("s-heart", "g"), (n) => expect(n).toBe(0)))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("handles each entry in a span Consumer.handle under an installed tracer", () =>
    Effect.gen(function*() {
      yield* Groups.create("s-span", "g", { from: "0" })
      const ids = yield* addEntries("s-span", 2)
      const builtIn = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (...args) => {
          const span = builtIn.span(...args)
          spans.push(span)
          return span
        },
        context: builtIn.context
      })
      const inHandler = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "s-span",
        group: "g",
        consumer: "c",
        handler: () =>
          Effect.flatMap(Effect.currentSpan, (span) => Ref.update(inHandler, (all) => [...all, span.spanId]))
      }).pipe(Effect.withTracer(recording)))
      yield* eventually(Effect.map(Ref.get(inHandler), (all) => expect(all.length).toBe(2)))
      yield* Fiber.interrupt(fiber)
      const handleSpans = spans.filter((span) => span.name === "Consumer.handle")
      expect(handleSpans.map((span) => span.attributes.get("messaging.message.id"))).toEqual(ids)
      expect(Object.fromEntries(handleSpans[0]!.attributes)).toEqual({
        "messaging.system": "redis",
        "messaging.destination.name": "s-span",
        "messaging.consumer.group.name": "g",
        "messaging.client.id": "c",
        "messaging.message.id": ids[0],
        "messaging.operation.type": "process",
        "messaging.operation.name": "process"
      })
      expect(handleSpans[0]!.kind).toBe("consumer")
      expect(handleSpans.map((span) => span.spanId)).toEqual(yield* Ref.get(inHandler))
      expect(handleSpans.every((span) => span.status._tag === "Ended")).toBe(true)
    }))

  it.effect("refuses bad options with InvalidArgument", () =>
    Effect.gen(function*() {
      const base = { stream: "s-bad", group: "g", consumer: "c", handler: () => Effect.void }
      for (const options of [{ count: 0 }, { concurrency: 1.5 }, { block: 0 }, { consumer: "has space" }, { stream: "" }]) {
        const exit = yield* Effect.exit(Consumer.run({ ...base, ...options }))
        expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({ reason: "InvalidArgument" })
      }
    }))
})
