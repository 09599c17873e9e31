import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Gc from "../../src/Gc.js"
import * as MessageId from "../../src/MessageId.js"
import * as Redis from "../../src/Redis.js"
import { RedisTest } from "../../src/testing/index.js"
import { freshGroup, quietControl, report, settled, startConsumers, startGc, stopWithin, Tally } from "./utils.js"

const deliveries = 3

layer(RedisTest.layer(), { excludeTestServices: true })("fault: poison entries among good ones", (it) => {
  it.scoped("good ones all handled in order per consumer, poison ones dead-lettered after 3 deliveries, none pending", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const { dlq, group, stream } = yield* freshGroup
      const written: Array<string> = []
      const poison = new Set<string>()
      for (let i = 0; i < 200; i++) {
        const id = String(yield* redis.send("XADD", [stream, "*", "n", i, "poison", i % 10 === 3 ? "yes" : "no"]))
        written.push(id)
        if (i % 10 === 3) poison.add(id)
      }
      const tally = new Tally()
      const order = new Map<string, Array<string>>()
      const attempts = new Map<string, number>()
      const fibers = yield* startConsumers(2, {
        stream,
        group,
        block: 100,
        concurrency: 1,
        control: quietControl,
        handler: (message) =>
          Effect.suspend(() => {
            if (message.fields["poison"] === "yes") {
              attempts.set(message.id, (attempts.get(message.id) ?? 0) + 1)
              return Effect.fail("poison")
            }
            tally.record(message.id)
            order.set(message.consumer, [...(order.get(message.consumer) ?? []), message.id])
            return Effect.void
          })
      })
      yield* startGc(stream, group, { rebalance: { idle: "10 seconds" }, dlq: { deliveries, stream: dlq } }, "200 millis")
      const counts = yield* settled({ stream, group, dlq, tally, written })
      yield* stopWithin(fibers)
      yield* report("poison entries (1 in 10, dlq after 3 deliveries)", counts)
      // good ones handled, once each; poison ones never, and dead-lettered after their deliveries
      expect(counts.handled).toBe(written.length - poison.size)
      expect(counts.duplicated).toBe(0)
      expect([...tally.counts.keys()].filter((id) => poison.has(id))).toEqual([])
      const letters = yield* Gc.deadLetters(dlq, { stream, group })
      expect(new Set(letters.map((letter) => letter.id))).toEqual(poison)
      for (const letter of letters) {
        expect(letter.deliveries).toBeGreaterThanOrEqual(deliveries)
        expect(letter.fields).toMatchObject({ poison: "yes" })
        // a consumer's backlog read counts a delivery when it claims the entry back (XCLAIM), before its
        // handler runs: gc may dead-letter it at that count first, so the handler ran at least once fewer
        expect(attempts.get(letter.id)).toBeGreaterThanOrEqual(deliveries - 1)
      }
      // each consumer handled its good entries in stream order
      expect(order.size).toBeGreaterThan(0)
      for (const ids of order.values()) {
        expect(ids.every((id, i) => i === 0 || MessageId.compare(ids[i - 1]!, id) < 0)).toBe(true)
      }
    }), 60_000)
})
