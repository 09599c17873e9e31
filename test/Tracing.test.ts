/**
 * One trace from producer to consumer, through the entry itself, under
 * `@effect/opentelemetry` with an in-memory span exporter: `xaddMap` writes
 * its producer span's W3C trace context into the entry, and the consumer's
 * span links to it (`trace: "link"`, the default) or continues it
 * (`"parent"`), also after a restart of the consumer (the context lives in
 * the entry). A malformed context is logged and the entry handled; a record
 * that has the trace field itself is refused; under Effect's built-in
 * tracer nothing is written.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { expect, layer } from "@effect/vitest"
import { SpanKind } from "@opentelemetry/api"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Fiber, Logger, Option } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import type * as RedisError from "../src/RedisError.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { eventually } from "./utils.js"

/**
 * The exporter of the running test: each test gets its own, with its own
 * tracer provider, as shutting a provider down stops its exporter.
 */
let exporter = new InMemorySpanExporter()
const Otel = () => {
  exporter = new InMemorySpanExporter()
  const spanProcessor = new SimpleSpanProcessor(exporter)
  return NodeSdk.layer(() => ({ resource: { serviceName: "tracing-test" }, spanProcessor }))
}

let counter = 0
const fresh = () => {
  const tag = `tracing${++counter}`
  return { stream: `stream/{${tag}}orders`, group: `group/${tag}`, consumer: `consumer/${tag}/0` }
}

const spansNamed = (name: string, stream: string): Array<ReadableSpan> =>
  exporter.getFinishedSpans().filter((span) => span.name === name && span.attributes["messaging.destination.name"] === stream)

/** The raw fields of the stream's entries, as Redis holds them. */
const rawFields = (stream: string) =>
  Effect.map(Streams.read(stream), (entries) => entries.map((entry) => entry.fields))

/** Runs a consumer until it has handled `n` entries, recording the fields the handler saw. */
const consumeUntil = (names: ReturnType<typeof fresh>, n: number, options: Partial<Pick<Consumer.CommonOptions<void, never, never, never>, "trace">> = {}) =>
  Effect.gen(function*() {
    const seen: Array<Readonly<Record<string, string>>> = []
    const fiber = yield* Effect.fork(Consumer.run({
      ...names,
      ...options,
      block: "100 millis",
      handler: (message) => Effect.sync(() => void seen.push(message.fields))
    }))
    yield* eventually(Effect.sync(() => expect(seen.length).toBe(n)))
    yield* Fiber.interrupt(fiber)
    return seen
  })

/** The request that writes an order: a span of its own around `xaddMap`. */
const request = (stream: string, order: string) =>
  Streams.xaddMap(stream, "*", { order }).pipe(Effect.withSpan(`POST /orders ${order}`, { kind: "server" }))

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("trace context from producer to consumer", (it) => {
  it.effect("by default the consumer's span links to the producer's span, which is a child of the request", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      const id = yield* request(names.stream, "o-1")
      const seen = yield* consumeUntil(names, 1)
      // the handler never sees the trace field
      expect(seen).toEqual([{ order: "o-1" }])
      const [root] = exporter.getFinishedSpans().filter((span) => span.name === "POST /orders o-1")
      const [producer] = spansNamed("Streams.xaddMap", names.stream)
      const [handle] = yield* eventually(Effect.sync(() => {
        const found = spansNamed("Consumer.handle", names.stream)
        expect(found).toHaveLength(1)
        return found
      }))
      expect(producer!.kind).toBe(SpanKind.PRODUCER)
      expect(producer!.parentSpanContext?.spanId).toBe(root!.spanContext().spanId)
      expect(producer!.spanContext().traceId).toBe(root!.spanContext().traceId)
      expect(producer!.attributes).toMatchObject({ "messaging.system": "redis", "messaging.operation.type": "send", "messaging.destination.name": names.stream })
      expect(handle!.kind).toBe(SpanKind.CONSUMER)
      expect(handle!.links.map((link) => link.context.spanId)).toEqual([producer!.spanContext().spanId])
      expect(handle!.links[0]!.context.traceId).toBe(root!.spanContext().traceId)
      expect(handle!.spanContext().traceId).not.toBe(root!.spanContext().traceId)
      expect(handle!.attributes).toMatchObject({
        "messaging.system": "redis",
        "messaging.destination.name": names.stream,
        "messaging.consumer.group.name": names.group,
        "messaging.client.id": names.consumer,
        "messaging.message.id": id,
        "messaging.operation.type": "process"
      })
    }).pipe(Effect.provide(Otel())))

  it.effect("with trace: \"parent\" the consumer's span continues the producer's trace", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* request(names.stream, "o-2")
      yield* consumeUntil(names, 1, { trace: "parent" })
      const [root] = exporter.getFinishedSpans().filter((span) => span.name === "POST /orders o-2")
      const [producer] = spansNamed("Streams.xaddMap", names.stream)
      const [handle] = yield* eventually(Effect.sync(() => {
        const found = spansNamed("Consumer.handle", names.stream)
        expect(found).toHaveLength(1)
        return found
      }))
      expect(handle!.spanContext().traceId).toBe(root!.spanContext().traceId)
      expect(handle!.parentSpanContext?.spanId).toBe(producer!.spanContext().spanId)
      expect(handle!.links).toEqual([])
    }).pipe(Effect.provide(Otel())))

  it.effect("the context lives in the entry: a consumer started after a restart links to the producer too", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* request(names.stream, "o-3")
      // the first consumer fails it and stops: the entry stays pending
      let attempts = 0
      const first = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        retry: false,
        handler: () => Effect.suspend(() => (++attempts === 1 ? Effect.fail("down") : Effect.never))
      }))
      yield* eventually(Effect.sync(() => expect(attempts).toBe(1)))
      yield* Fiber.interrupt(first)
      yield* consumeUntil(names, 1)
      const [producer] = spansNamed("Streams.xaddMap", names.stream)
      const handles = yield* eventually(Effect.sync(() => {
        const found = spansNamed("Consumer.handle", names.stream)
        expect(found).toHaveLength(2)
        return found
      }))
      for (const handle of handles) expect(handle.links.map((link) => link.context.spanId)).toEqual([producer!.spanContext().spanId])
    }).pipe(Effect.provide(Otel())))

  it.effect("a malformed trace context: one warning, a span without a link, the entry handled without the field", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      // written by something else, which put garbage where the context goes
      yield* Streams.xaddMap(names.stream, "*", { order: "o-4", [Streams.traceField]: "not-a-traceparent" }, { trace: false })
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message[0] : message))
      })
      const seen = yield* consumeUntil(names, 1).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect(seen).toEqual([{ order: "o-4" }])
      expect(warnings.filter((line) => line.includes("malformed trace context"))).toHaveLength(1)
      const [handle] = yield* eventually(Effect.sync(() => {
        const found = spansNamed("Consumer.handle", names.stream)
        expect(found).toHaveLength(1)
        return found
      }))
      expect(handle!.links).toEqual([])
    }).pipe(Effect.provide(Otel())))

  it.effect("a record that has the trace field itself is refused, unless trace: false", () =>
    Effect.gen(function*() {
      const names = fresh()
      const writes: ReadonlyArray<Effect.Effect<unknown, RedisError.RedisError, Redis.Redis>> = [
        Streams.xaddMap(names.stream, "*", { [Streams.traceField]: "mine" }),
        Streams.xaddAll(names.stream, [{ a: "1" }, { [Streams.traceField]: "mine" }])
      ]
      for (const write of writes) {
        const error = yield* Effect.flip(write)
        expect(error.reason).toBe("InvalidArgument")
        expect(error.message).toContain(`has a field "${Streams.traceField}", where the trace context goes`)
      }
      expect(yield* rawFields(names.stream)).toEqual([])
      yield* Streams.xaddMap(names.stream, "*", { [Streams.traceField]: "mine" }, { trace: false })
      expect(yield* rawFields(names.stream)).toEqual([{ [Streams.traceField]: "mine" }])
    }).pipe(Effect.provide(Otel())))

  it.effect("xaddAll writes its span's context into every entry; a batch handler's span links to each", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* Streams.xaddAll(names.stream, [{ order: "a" }, { order: "b" }, { order: "c" }])
      const [producer] = spansNamed("Streams.xaddAll", names.stream)
      expect(producer!.attributes["messaging.batch.message_count"]).toBe(3)
      const raw = yield* rawFields(names.stream)
      expect(raw.every((fields) => fields?.[Streams.traceField]?.includes(producer!.spanContext().spanId))).toBe(true)
      let handled = 0
      const fiber = yield* Effect.fork(Consumer.run({
        ...names,
        block: "100 millis",
        handleBatch: (messages) => Effect.sync(() => void (handled += messages.length))
      }))
      yield* eventually(Effect.sync(() => expect(handled).toBe(3)))
      yield* Fiber.interrupt(fiber)
      const [batch] = yield* eventually(Effect.sync(() => {
        const found = spansNamed("Consumer.handleBatch", names.stream)
        expect(found).toHaveLength(1)
        return found
      }))
      expect(batch!.attributes["messaging.batch.message_count"]).toBe(3)
      expect(batch!.links.map((link) => link.context.spanId)).toEqual([producer!.spanContext().spanId, producer!.spanContext().spanId, producer!.spanContext().spanId])
    }).pipe(Effect.provide(Otel())))

  it.effect("under Effect's built-in tracer no trace field is written and no span made", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Streams.xaddMap(names.stream, "*", { order: "o-5" }).pipe(Effect.withSpan("POST /orders o-5"))
      expect(yield* rawFields(names.stream)).toEqual([{ order: "o-5" }])
      expect(Option.isNone(yield* Effect.serviceOption(Redis.Redis))).toBe(false)
    }))

  it.effect("a consumer with trace: false reads the field as one of the entry's own", () =>
    Effect.gen(function*() {
      const names = fresh()
      yield* Groups.create(names.stream, names.group, { from: "0" })
      yield* request(names.stream, "o-6")
      const seen = yield* consumeUntil(names, 1, { trace: false })
      expect(Object.keys(seen[0]!).sort()).toEqual(["order", Streams.traceField].sort())
      expect(spansNamed("Consumer.handle", names.stream)[0]?.links ?? []).toEqual([])
    }).pipe(Effect.provide(Otel())))
})
