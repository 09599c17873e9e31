import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Option, Ref } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import { RedisTest } from "../src/testing/index.js"
import { addEntries, eventually, isBlocked } from "./utils.js"

const blocked = (stream: string, group: string, consumer: string) =>
  Effect.gen(function*() {
    yield* Groups.create(stream, group)
    const fiber = yield* Effect.fork(Consumer.run({ stream, group, consumer, block: 20_000, handler: () => Effect.void }))
    yield* eventually(Effect.map(isBlocked(consumer), (b) => expect(b).toBe(true)))
    return fiber
  })

const unblockedError = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.map(Effect.flip(Fiber.join(fiber)), (error) => expect(error).toMatchObject({ _tag: "RedisError", reason: "Unblocked" }))

layer(RedisTest.layer(), { excludeTestServices: true })("Consumer.unblock", (it) => {
  it.effect("unblocks consumers by name prefix and by RegExp; the default control exits with Unblocked", () =>
    Effect.gen(function*() {
      const a = yield* blocked("u-name", "g", "consumer/u/a")
      const b = yield* blocked("u-name", "g", "consumer/u/b")
      expect(yield* Consumer.unblock("consumer/u/a")).toBe(1)
      yield* unblockedError(a)
      expect(Option.isNone(yield* Fiber.poll(b))).toBe(true)
      expect(yield* isBlocked("consumer/u/b")).toBe(true)
      expect(yield* Consumer.unblock(/^consumer\/u\/b$/)).toBe(1)
      yield* unblockedError(b)
    }))

  it.effect("unblockGroup unblocks only the consumers of that group", () =>
    Effect.gen(function*() {
      const one = yield* blocked("u-group", "g1", "consumer/g1/0")
      const two = yield* blocked("u-group", "g1", "consumer/g1/1")
      const other = yield* blocked("u-group", "g2", "consumer/g2/0")
      expect(yield* Consumer.unblockGroup("u-group", "g1")).toBe(2)
      yield* unblockedError(one)
      yield* unblockedError(two)
      expect(yield* isBlocked("consumer/g2/0")).toBe(true)
      expect(Option.isNone(yield* Fiber.poll(other))).toBe(true)
      yield* Fiber.interrupt(other)
    }))

  it.effect("unblock() unblocks every consumer at once", () =>
    Effect.gen(function*() {
      const fibers = yield* Effect.forEach(["consumer/all/0", "consumer/all/1", "consumer/all/2"], (name) =>
        blocked("u-all", "g", name))
      expect(yield* Consumer.unblock()).toBe(3)
      yield* Effect.forEach(fibers, unblockedError)
    }))

  it.effect("an unblock while the consumer is in its handler has no effect", () =>
    Effect.gen(function*() {
      yield* Groups.create("u-handler", "g")
      const started = yield* Effect.makeLatch(false)
      const release = yield* Effect.makeLatch(false)
      const handled = yield* Ref.make(0)
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "u-handler",
        group: "g",
        consumer: "consumer/busy/0",
        block: 20_000,
        handler: () => Effect.zipRight(Effect.zipRight(started.open, release.await), Ref.update(handled, (n) => n + 1))
      }))
      yield* addEntries("u-handler", 1)
      yield* started.await
      expect(yield* Consumer.unblock("consumer/busy/")).toBe(0)
      yield* release.open
      yield* addEntries("u-handler", 1, 1)
      yield* eventually(Effect.map(Ref.get(handled), (n) => expect(n).toBe(2)))
      yield* eventually(Effect.map(isBlocked("consumer/busy/0"), (b) => expect(b).toBe(true)))
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* Fiber.interrupt(fiber)
    }))
})
