import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Metric, MetricLabel, Ref } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import { RedisTest } from "../src/testing/index.js"
import { addEntries, eventually } from "./utils.js"

layer(RedisTest.layer(), { excludeTestServices: true })("Consumer on a silent connection", (it) => {
  it.effect("drops a read that outlives its block time and resumes once the server answers again", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      yield* Groups.create("z-silent", "g")
      const readErrors = Consumer.metrics.readErrors.pipe(Metric.taggedWithLabels([
        MetricLabel.make("stream", "z-silent"),
        MetricLabel.make("group", "g")
      ]))
      const handled = yield* Ref.make(0)
      const fiber = yield* Effect.fork(Consumer.run({
        stream: "z-silent",
        group: "g",
        consumer: "c",
        block: 100,
        handler: () => Ref.update(handled, (n) => n + 1)
      }))
      yield* addEntries("z-silent", 1)
      yield* eventually(Effect.map(Ref.get(handled), (n) => expect(n).toBe(1)))
      // a frozen server keeps its sockets open and answers nothing: without the
      // consumer's own deadline its read would wait until the server thaws
      yield* server.pause
      yield* eventually(Effect.map(Metric.value(readErrors), (state) => expect(state.count).toBeGreaterThan(0)), "15 seconds")
        .pipe(Effect.ensuring(Effect.orDie(server.resume)))
      yield* addEntries("z-silent", 1, 1)
      yield* eventually(Effect.map(Ref.get(handled), (n) => expect(n).toBe(2)), "15 seconds")
      yield* Fiber.interrupt(fiber)
    }), 40_000)
})
