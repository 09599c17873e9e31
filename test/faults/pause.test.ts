import { expect, layer } from "@effect/vitest"
import type { Scope } from "effect"
import { Effect, Metric, MetricLabel } from "effect"
import * as Consumer from "../../src/Consumer.js"
import * as Redis from "../../src/Redis.js"
import { RedisTest } from "../../src/testing/index.js"
import { addEntries, eventually } from "../utils.js"
import { freshGroup, recording, report, settled, startConsumers, startGc, stopWithin, Tally } from "./utils.js"

/** The consumers' read timeout: block (200 ms) + the 3 s grace before a silent read is dropped. */
const block = 200
const pauseMillis = 5_000

const readErrors = (stream: string, group: string) =>
  Metric.value(
    Consumer.metrics.readErrors.pipe(
      Metric.taggedWithLabels([MetricLabel.make("stream", stream), MetricLabel.make("group", group)])
    )
  )

/**
 * Two consumers and gc run; entries are written, the server is paused by
 * `pause` for longer than the read timeout and written to meanwhile (those
 * writes wait for it); then everything must be handled and acked.
 */
const underPause = (name: string, pause: (server: RedisTest.Server) => Effect.Effect<unknown, unknown, Redis.Redis | Scope.Scope>) =>
  Effect.gen(function*() {
    const server = yield* RedisTest.RedisTest
    const { dlq, group, stream } = yield* freshGroup
    const tally = new Tally()
    const fibers = yield* startConsumers(2, {
      stream,
      group,
      block,
      handler: recording(tally, () => Effect.sleep("2 millis"))
    })
    yield* startGc(stream, group, { rebalance: { idle: "10 seconds" }, dlq: { deliveries: 10, stream: dlq } }, "200 millis")
    const before = yield* addEntries(stream, 100)
    yield* eventually(Effect.sync(() => expect(tally.handled).toBeGreaterThan(10)))
    yield* pause(server)
    const during = yield* addEntries(stream, 100, 100)
    const counts = yield* settled({ stream, group, dlq, tally, written: [...before, ...during], within: "30 seconds" })
    // the reads outlived their timeout: the consumers dropped them and read again
    expect((yield* readErrors(stream, group)).count).toBeGreaterThan(0)
    yield* stopWithin(fibers)
    yield* report(name, counts)
  })

layer(RedisTest.layer(), { excludeTestServices: true })("fault: server paused longer than the read timeout", (it) => {
  it.scoped("CLIENT PAUSE ALL: consumers and gc resume, nothing lost, none pending", () =>
    underPause("CLIENT PAUSE 5 s", () =>
      Effect.flatMap(Redis.Redis, (redis) => redis.send("CLIENT", ["PAUSE", pauseMillis, "ALL"]))), 60_000)

  it.scoped("SIGSTOP / SIGCONT of the server process: consumers and gc resume, nothing lost, none pending", () =>
    underPause("SIGSTOP 5 s", (server) =>
      Effect.zipRight(
        Effect.acquireRelease(server.pause, () => Effect.ignore(server.resume)),
        // the fault's length, not a synchronisation: the writes meanwhile wait for the server
        Effect.forkScoped(Effect.zipRight(Effect.sleep(pauseMillis), Effect.orDie(server.resume)))
      )), 60_000)
})
