/**
 * A production setup in one layer: `Consumer.layerGroup` over two streams
 * by priority (urgent before normal), two consumers that claim dead
 * siblings' work themselves, retries with backoff and a dead-letter stream
 * for what keeps failing, and gc on a schedule. It writes normal jobs, then
 * urgent ones, one of them broken, and waits until every job is done or
 * dead-lettered.
 *
 *   npx tsx production.ts                            # in your app: spawns a redis-server for the run
 *   REDIS_URL=redis://localhost:6379 npx tsx production.ts   # uses your server
 *   npm run example examples/production.ts           # in this repository (the package name resolves to src/)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Ref, Schedule } from "effect"
import { pathToFileURL } from "node:url"
import { Consumer, Gc, Naming, Redis, Streams } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

// one hash tag: the streams and their dead-letter stream share a cluster slot
const urgent = Naming.streamName("urgent", { hashTag: "jobs" })
const normal = Naming.streamName("normal", { hashTag: "jobs" })
const dlq = Naming.dlqName(urgent) // "stream/{jobs}dlq"
const group = Naming.groupName("workers")

/** The program: needs a `Redis.Redis` in its context; returns the jobs in the order they were done. */
export const main = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  yield* redis.send("DEL", [urgent, normal, dlq])
  const done = yield* Ref.make<ReadonlyArray<string>>([])
  const workers = Consumer.layerGroup({
    streams: [urgent, normal],
    group,
    consumers: 2,
    block: "200 millis",
    create: { from: "0" },
    // a job that fails waits 100 ms, then 200 ms; the third failure sends it to the DLQ
    retry: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(2))),
    deadLetter: { stream: dlq },
    claim: { idle: "30 seconds" },
    gc: { options: { dlq: false }, schedule: Schedule.spaced("10 seconds") },
    handler: (message) =>
      message.fields["job"] === "broken"
        ? Effect.fail(`cannot do ${message.id}`)
        : Ref.update(done, (all) => [...all, `${message.stream.endsWith("urgent") ? "urgent" : "normal"} ${message.fields["job"]}`])
  })
  // the jobs are written before the consumers start: each consumer takes urgent ones first (the
  // first consumer to read gets all three; the other, finding none left, takes the normal ones)
  yield* Streams.xaddAll(normal, [{ job: "n1" }, { job: "n2" }])
  yield* Streams.xaddAll(urgent, [{ job: "u1" }, { job: "broken" }, { job: "u2" }])
  return yield* Effect.gen(function*() {
    while ((yield* Ref.get(done)).length < 4 || (yield* Gc.deadLetters(dlq)).length < 1) yield* Effect.sleep("50 millis")
    return { done: yield* Ref.get(done), deadLettered: (yield* Gc.deadLetters(dlq)).map((letter) => letter.fields) }
  }).pipe(Effect.provide(workers), Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => "the jobs were not all done in time" }))
})

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main.pipe(
    Effect.flatMap((result) => Console.log(result)),
    Effect.provide(RedisTest.layer()),
    NodeRuntime.runMain
  )
}

