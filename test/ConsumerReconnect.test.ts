import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Ref, Schedule } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import { RedisTest } from "../src/testing/index.js"
import { addEntries, eventually, pendingCount } from "./utils.js"

layer(RedisTest.layer({ appendOnly: true }), { excludeTestServices: true })("Consumer across lost connections", (it) => {
  it.effect("resumes after the server restarts: entries written before and after are all handled, none pending", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      yield* Groups.create("r-restart", "g")
      const handled = yield* Ref.make<ReadonlySet<string>>(new Set())
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "r-restart",
        group: "g",
        consumer: "c",
        block: 200,
        count: 5,
        handler: (message) =>
          Effect.zipRight(Effect.sleep("5 millis"), Ref.update(handled, (all) => new Set([...all, message.id])))
      }))
      const before = yield* addEntries("r-restart", 40)
      // restart while the consumer is part-way through them
      yield* eventually(Effect.map(Ref.get(handled), (all) => expect(all.size).toBeGreaterThan(0)))
      yield* server.restart
      const after = yield* addEntries("r-restart", 40, 40)
      yield* eventually(Effect.map(Ref.get(handled), (all) => expect(all).toEqual(new Set([...before, ...after]))), "20 seconds")
      yield* eventually(Effect.map(pendingCount("r-restart", "g"), (n) => expect(n).toBe(0)))
      // and it goes on consuming
      const later = yield* addEntries("r-restart", 1, 80)
      yield* eventually(Effect.map(Ref.get(handled), (all) => expect(all.has(later[0]!)).toBe(true)))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("when the reconnect schedule gives up, the control sees the Connection error", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      yield* Groups.create("r-gone", "g")
      const events = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "r-gone",
        group: "g",
        consumer: "c",
        block: 100,
        reconnect: Schedule.recurs(2).pipe(Schedule.addDelay(() => "20 millis")),
        handler: () => Effect.void,
        control: (event) => Effect.zipRight(Ref.update(events, (all) => [...all, event._tag]), Consumer.defaultControl(event))
      }))
      yield* eventually(Effect.map(pendingCount("r-gone", "g"), (n) => expect(n).toBe(0)))
      yield* server.stop
      const error = yield* Effect.flip(Fiber.join(fiber)).pipe(Effect.ensuring(Effect.orDie(server.start)))
      expect(error).toMatchObject({ _tag: "RedisError", reason: "Connection" })
      expect(yield* Ref.get(events)).toEqual(["ReadFailed"])
    }))
})
