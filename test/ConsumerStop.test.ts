import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, FiberMap, FiberSet, Option, Ref } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import { RedisTest } from "../src/testing/index.js"
import * as MessageId from "../src/MessageId.js"
import { addEntries, lastDeliveredId, connectionNames, eventually, isBlocked, pendingCount, pendingEntries } from "./utils.js"

const idle = (stream: string, consumer: string, block = 20_000) =>
  Consumer.run({ stream, group: "g", consumer, block, handler: () => Effect.void })

const gone = (name: string) => eventually(Effect.map(connectionNames, (names) => expect(names).not.toContain(name)))

layer(RedisTest.layer(), { excludeTestServices: true })("Stopping consumers", (it) => {
  it.effect("interrupting a consumer blocked on a 20 s read ends it at once and releases its connection", () =>
    Effect.gen(function*() {
      yield* Groups.create("x-block", "g")
      const fiber = yield* Effect.fork(idle("x-block", "consumer/block/0"))
      yield* eventually(Effect.map(isBlocked("consumer/block/0"), (blocked) => expect(blocked).toBe(true)))
      // far less than the 20 s block time, or this fails
      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.timeout("5 seconds"))
      expect(Exit.isInterrupted(exit)).toBe(true)
      yield* gone("consumer/block/0")
    }))

  it.effect("an interrupt waits for the running handler and acks its entry", () =>
    Effect.gen(function*() {
      yield* Groups.create("x-wait", "g")
      const release = yield* Effect.makeLatch(false)
      const started = yield* Effect.makeLatch(false)
      const finished = yield* Ref.make(false)
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "x-wait",
        group: "g",
        consumer: "c",
        handler: () => Effect.zipRight(Effect.zipRight(started.open, release.await), Ref.set(finished, true))
      }))
      yield* addEntries("x-wait", 1)
      yield* started.await
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      expect(Option.isNone(yield* Fiber.poll(interrupting))).toBe(true)
      yield* release.open
      yield* Fiber.join(interrupting)
      expect(yield* Ref.get(finished)).toBe(true)
      expect(yield* pendingCount("x-wait", "g")).toBe(0)
    }))

  it.effect("with interruptHandlers the running handler is interrupted and its entry stays pending", () =>
    Effect.gen(function*() {
      yield* Groups.create("x-abort", "g")
      const started = yield* Effect.makeLatch(false)
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "x-abort",
        group: "g",
        consumer: "c",
        interruptHandlers: true,
        handler: () => Effect.zipRight(started.open, Effect.never)
      }))
      yield* addEntries("x-abort", 1)
      yield* started.await
      yield* Fiber.interrupt(fiber)
      expect(yield* pendingCount("x-abort", "g")).toBe(1)
    }))

  it.effect("with concurrency, an interrupt acks every handled entry and leaves the others pending", () =>
    Effect.gen(function*() {
      yield* Groups.create("x-batch", "g", { from: "0" })
      const ids = yield* addEntries("x-batch", 30)
      const release = yield* Effect.makeLatch(false)
      const started = yield* Ref.make(0)
      const finished = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "x-batch",
        group: "g",
        consumer: "c",
        count: 10,
        concurrency: 3,
        handler: (message) =>
          Effect.gen(function*() {
            yield* Ref.update(started, (n) => n + 1)
            yield* release.await
            yield* Ref.update(finished, (all) => [...all, message.id])
          })
      }))
      yield* eventually(Effect.map(Ref.get(started), (n) => expect(n).toBe(3)))
      const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
      yield* release.open
      yield* Fiber.join(interrupting)
      const done = yield* Ref.get(finished)
      expect(done.length).toBe(3)
      const pending = yield* pendingEntries("x-batch", "g")
      expect(pending.some((entry) => done.includes(entry.id))).toBe(false)
      // every delivered entry (the batch, and those read ahead) but the 3 handled is pending
      const last = yield* lastDeliveredId("x-batch")
      const delivered = ids.filter((id) => MessageId.compare(id, last) <= 0).length
      expect(delivered).toBeGreaterThanOrEqual(10)
      expect(pending.length).toBe(delivered - 3)
    }))

  it.effect("a consumer killed while holding entries gets them back on restart under the same name", () =>
    Effect.gen(function*() {
      yield* Groups.create("x-kill", "g", { from: "0" })
      const ids = yield* addEntries("x-kill", 5)
      const started = yield* Effect.makeLatch(false)
      const doomed = yield* Effect.fork(Consumer.run({
        stream: "x-kill",
        group: "g",
        consumer: "c",
        count: 5,
        interruptHandlers: true,
        handler: () => Effect.zipRight(started.open, Effect.never)
      }))
      yield* started.await
      yield* Fiber.interrupt(doomed)
      expect(yield* pendingCount("x-kill", "g", "c")).toBe(5)
      const handled = yield* Ref.make<ReadonlyArray<Consumer.StreamMessage>>([])
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "x-kill",
        group: "g",
        consumer: "c",
        handler: (message) => Ref.update(handled, (all) => [...all, message])
      }))
      yield* eventually(Effect.map(Ref.get(handled), (all) => expect(all.map((m) => m.id)).toEqual(ids)))
      expect((yield* Ref.get(handled)).every((m) => m.deliveries === 2)).toBe(true)
      yield* eventually(Effect.map(pendingCount("x-kill", "g"), (n) => expect(n).toBe(0)))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("Effect.forkScoped: consumers stop when their scope closes", () =>
    Effect.gen(function*() {
      yield* Groups.create("x-scoped", "g")
      const fiber = yield* Effect.scoped(Effect.gen(function*() {
        const fiber = yield* Effect.forkScoped(idle("x-scoped", "consumer/scoped/0"))
        yield* eventually(Effect.map(isBlocked("consumer/scoped/0"), (blocked) => expect(blocked).toBe(true)))
        return fiber
      }))
      expect(Exit.isInterrupted(yield* Fiber.await(fiber))).toBe(true)
      yield* gone("consumer/scoped/0")
    }))

  it.effect("FiberSet: every consumer in the set stops when its scope closes", () =>
    Effect.gen(function*() {
      yield* Groups.create("x-set", "g")
      yield* Effect.scoped(Effect.gen(function*() {
        const set = yield* FiberSet.make()
        yield* FiberSet.run(set, idle("x-set", "consumer/set/0"))
        yield* FiberSet.run(set, idle("x-set", "consumer/set/1"))
        yield* eventually(Effect.map(
          Effect.all([isBlocked("consumer/set/0"), isBlocked("consumer/set/1")]),
          (blocked) => expect(blocked).toEqual([true, true])
        ))
        expect(yield* FiberSet.size(set)).toBe(2)
      }))
      yield* gone("consumer/set/0")
      yield* gone("consumer/set/1")
    }))

  it.effect("FiberMap: one consumer stops when removed, the rest when the scope closes", () =>
    Effect.gen(function*() {
      yield* Groups.create("x-map", "g")
      yield* Effect.scoped(Effect.gen(function*() {
        const map = yield* FiberMap.make<string>()
        yield* FiberMap.run(map, "a", idle("x-map", "consumer/map/a"))
        yield* FiberMap.run(map, "b", idle("x-map", "consumer/map/b"))
        yield* eventually(Effect.map(
          Effect.all([isBlocked("consumer/map/a"), isBlocked("consumer/map/b")]),
          (blocked) => expect(blocked).toEqual([true, true])
        ))
        yield* FiberMap.remove(map, "a")
        yield* gone("consumer/map/a")
        expect(yield* connectionNames).toContain("consumer/map/b")
      }))
      yield* gone("consumer/map/b")
    }))
})

