/**
 * No duplicate without a fault: a consumer's own reads never hand an entry
 * that is delivered and not settled to its handler again. The scenarios that
 * broke it: a failed entry's backoff falling due while a batch is handled
 * (the read ahead turned into a backlog read, which returned the batch in
 * hand), with the default retry, a durable schedule, a large `count`,
 * concurrency and several streams by priority. Deliveries are counted per id.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { eventually } from "./utils.js"

let counter = 0
const fresh = (streams = 1) => {
  const tag = `dup${++counter}`
  return {
    streams: Array.from({ length: streams }, (_, i) => `stream/{${tag}}s${i}`),
    group: `group/${tag}`,
    consumer: `consumer/${tag}/0`
  }
}

interface Scenario {
  readonly entries: number
  readonly streams?: number
  readonly count?: number
  readonly concurrency?: number
  readonly retry?: Schedule.Schedule<unknown, unknown>
}

/**
 * Writes `entries` entries (spread over the streams), one of them poison
 * (always fails), and runs one consumer whose handler takes a little time
 * per batch, until every good entry has been handled; returns how many
 * times each good entry was handled.
 */
const run = (scenario: Scenario) =>
  Effect.gen(function*() {
    const names = fresh(scenario.streams ?? 1)
    yield* Groups.create(names.streams, names.group, { from: "0" })
    const poison = 7
    for (let s = 0; s < names.streams.length; s++) {
      const records = Array.from({ length: scenario.entries / names.streams.length }, (_, i) => ({ n: `${s}:${i}` }))
      yield* Streams.xaddAll(names.streams[s]!, records)
    }
    const deliveries = new Map<string, number>()
    const fiber = yield* Effect.fork(Consumer.run({
      streams: names.streams,
      group: names.group,
      consumer: names.consumer,
      block: "100 millis",
      count: scenario.count,
      concurrency: scenario.concurrency,
      retry: scenario.retry,
      handler: (message) =>
        Effect.suspend(() => {
          const n = message.fields["n"]!
          if (n === `0:${poison}`) return Effect.fail("poison")
          deliveries.set(n, (deliveries.get(n) ?? 0) + 1)
          // a batch takes long enough for the poison's backoff to fall due while it is handled
          return n.endsWith("0") ? Effect.sleep("15 millis") : Effect.void
        })
    }))
    yield* eventually(Effect.sync(() => expect(deliveries.size).toBe(scenario.entries - 1)), "60 seconds")
    yield* Fiber.interrupt(fiber)
    return deliveries
  })

const twice = (deliveries: ReadonlyMap<string, number>) => [...deliveries].filter(([, n]) => n !== 1)

layer(RedisTest.layer(), { excludeTestServices: true })("Consumer: no entry handled twice without a fault", (it) => {
  it.effect("default retry, count 100: a backoff falling due mid-batch hands no good entry again", () =>
    Effect.gen(function*() {
      const deliveries = yield* run({ entries: 2_000 })
      expect(twice(deliveries)).toEqual([])
    }), 90_000)

  it.effect("a durable schedule with count 1000 and concurrency 4", () =>
    Effect.gen(function*() {
      const deliveries = yield* run({
        entries: 3_000,
        count: 1_000,
        concurrency: 4,
        retry: Schedule.spaced("50 millis")
      })
      expect(twice(deliveries)).toEqual([])
    }), 90_000)

  it.effect("three streams by priority with a short durable schedule", () =>
    Effect.gen(function*() {
      const deliveries = yield* run({ entries: 3_000, streams: 3, count: 50, retry: Schedule.spaced("20 millis") })
      expect(twice(deliveries)).toEqual([])
    }), 90_000)
})
