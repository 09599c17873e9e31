import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Ref } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import { RedisTest } from "../src/testing/index.js"
import { addEntries, eventually, pendingCount } from "./utils.js"

layer(RedisTest.layer(), { excludeTestServices: true })("Consumer control", (it) => {
  it.effect("Exit after Handled: the run succeeds with the handled value", () =>
    Effect.gen(function*() {
      yield* Groups.create("c-handled", "g", { from: "0" })
      const [, second] = yield* addEntries("c-handled", 3)
      const events = yield* Ref.make<ReadonlyArray<Consumer.ControlEvent<string, never>>>([])
      const value = yield* Consumer.run({
        stream: "c-handled",
        group: "g",
        consumer: "c",
        count: 10,
        handler: (message) => Effect.succeed(`handled ${message.fields.n}`),
        control: (event) =>
          Effect.as(
            Ref.update(events, (all) => [...all, event]),
            event._tag === "Handled" && event.message.id === second ? Consumer.Control.Exit() : Consumer.Control.Recur()
          )
      })
      expect(value).toBe("handled 1")
      const seen = yield* Ref.get(events)
      expect(seen.map((event) => event._tag)).toEqual(["Handled", "Handled"])
      expect(seen[0]).toMatchObject({
        value: "handled 0",
        context: { stream: "c-handled", group: "g", consumer: "c" },
        message: { fields: { n: "0" }, deliveries: 1 }
      })
      // both handled entries were acked before the run ended; the third stays pending
      expect(yield* pendingCount("c-handled", "g")).toBe(1)
    }))

  it.effect("Exit after HandlerFailed: the run fails with the handler's error", () =>
    Effect.gen(function*() {
      yield* Groups.create("c-failed", "g", { from: "0" })
      yield* addEntries("c-failed", 1)
      const error = yield* Effect.flip(Consumer.run({
        stream: "c-failed",
        group: "g",
        consumer: "c",
        handler: (message) => Effect.fail({ _tag: "Poison", id: message.id } as const),
        control: (event) => Effect.succeed(event._tag === "HandlerFailed" ? Consumer.Control.Exit() : Consumer.Control.Recur())
      }))
      expect(error).toMatchObject({ _tag: "Poison" })
      expect(yield* pendingCount("c-failed", "g")).toBe(1)
    }))

  it.effect("a control can recur on a read error (no group) and then exit with it", () =>
    Effect.gen(function*() {
      const failures = yield* Ref.make(0)
      const error = yield* Effect.flip(Consumer.run({
        stream: "c-nogroup",
        group: "missing",
        consumer: "c",
        handler: () => Effect.void,
        control: (event) =>
          event._tag === "ReadFailed"
            ? Effect.map(
              Ref.updateAndGet(failures, (n) => n + 1),
              (n) => (n < 3 ? Consumer.Control.Recur() : Consumer.Control.Exit())
            )
            : Consumer.defaultControl(event)
      }))
      expect(error).toMatchObject({ _tag: "RedisError", reason: "NoGroup" })
      expect(yield* Ref.get(failures)).toBe(3)
    }))

  it.effect("the default control exits on a read error, failing with it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Consumer.run({
        stream: "c-nogroup-default",
        group: "missing",
        consumer: "c",
        handler: () => Effect.void
      }))
      expect(error.reason).toBe("NoGroup")
    }))

  it.effect("three consumers in one group share the work, each entry handled once", () =>
    Effect.gen(function*() {
      yield* Groups.create("c-share", "g")
      const handled = yield* Ref.make<ReadonlyArray<readonly [string, string]>>([])
      const fibers = yield* Effect.forEach([0, 1, 2], (i) =>
        Effect.fork(Consumer.run({
          stream: "c-share",
          group: "g",
          consumer: `consumer/share/${i}`,
          block: 100,
          count: 3,
          handler: (message) =>
            Effect.zipRight(Effect.sleep("5 millis"), Ref.update(handled, (all) => [...all, [message.consumer, message.id] as const]))
        })))
      const ids = yield* addEntries("c-share", 60)
      yield* eventually(Effect.map(Ref.get(handled), (all) => expect(all.length).toBe(60)))
      const all = yield* Ref.get(handled)
      expect(new Set(all.map(([, id]) => id))).toEqual(new Set(ids))
      expect(new Set(all.map(([consumer]) => consumer)).size).toBe(3)
      yield* eventually(Effect.map(pendingCount("c-share", "g"), (n) => expect(n).toBe(0)))
      yield* Effect.forEach(fibers, Fiber.interrupt)
    }))

  it.effect("runs up to `concurrency` handlers at once and handles every entry", () =>
    Effect.gen(function*() {
      yield* Groups.create("c-concurrent", "g", { from: "0" })
      yield* addEntries("c-concurrent", 40)
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const done = yield* Ref.make(0)
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "c-concurrent",
        group: "g",
        consumer: "c",
        count: 10,
        concurrency: 4,
        handler: () =>
          Effect.gen(function*() {
            const now = yield* Ref.updateAndGet(running, (n) => n + 1)
            yield* Ref.update(peak, (p) => Math.max(p, now))
            yield* Effect.sleep("5 millis")
            yield* Ref.update(running, (n) => n - 1)
            yield* Ref.update(done, (n) => n + 1)
          })
      }))
      yield* eventually(Effect.map(Ref.get(done), (n) => expect(n).toBe(40)))
      const highest = yield* Ref.get(peak)
      expect(highest).toBeGreaterThan(1)
      expect(highest).toBeLessThanOrEqual(4)
      yield* eventually(Effect.map(pendingCount("c-concurrent", "g"), (n) => expect(n).toBe(0)))
      yield* Fiber.interrupt(fiber)
    }))
})
