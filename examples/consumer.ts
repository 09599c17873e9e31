/**
 * A consumer with a schema: sensor readings are decoded from the entry's
 * string fields; a reading that does not decode can never succeed, so it is
 * not retried: it goes to the dead-letter stream at once (reason
 * `DecodeFailed`, with the ParseError). The consumer's control exits once the
 * three good readings are handled (a long-running consumer would keep the
 * default control).
 *
 *   npx tsx consumer.ts                            # in your app: spawns a redis-server for the run
 *   REDIS_URL=redis://localhost:6379 npx tsx consumer.ts   # uses your server
 *   npm run example examples/consumer.ts           # in this repository (the package name resolves to src/)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Ref, Schema } from "effect"
import { pathToFileURL } from "node:url"
import { Consumer, Gc, Groups, Naming, Streams } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

const Reading = Schema.Struct({
  sensor: Schema.String,
  celsius: Schema.NumberFromString
})

/** The program: needs a `Redis.Redis` in its context. */
export const main = Effect.gen(function*() {
  const stream = Naming.streamName("example-readings")
  const group = Naming.groupName("example-persist")
  yield* Groups.create(stream, group)
  yield* Streams.xaddAll(stream, [
    { sensor: "kitchen", celsius: 21.5 },
    { sensor: "garage", celsius: "warm" }, // does not decode: dead-lettered
    { sensor: "attic", celsius: 30 },
    { sensor: "cellar", celsius: 12 }
  ])
  const readings = yield* Ref.make<ReadonlyArray<typeof Reading.Type>>([])
  const last = yield* Consumer.run({
    stream,
    group,
    consumer: Naming.consumerName("example-persist", 0),
    schema: Reading,
    handler: (message) =>
      Effect.as(Ref.updateAndGet(readings, (all) => [...all, message.data]), message.data.sensor),
    control: (event) =>
      event._tag === "Handled"
        ? Effect.map(Ref.get(readings), (all) => (all.length === 3 ? Consumer.Control.Exit() : Consumer.Control.Recur()))
        : Consumer.defaultControl(event)
  })
  const stats = yield* Groups.stats(stream, group)
  const letters = yield* Gc.deadLetters(Naming.dlqName(stream), { stream })
  yield* Effect.log(`handled ${JSON.stringify(yield* Ref.get(readings))}, last ${last}; ${stats.pending} pending`)
  for (const letter of letters) yield* Effect.log(`dead letter ${letter.id}: ${letter.reason}, ${letter.error?.message}`)
  return { stream, group, readings: yield* Ref.get(readings), last, pending: stats.pending, letters }
})

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main.pipe(Effect.provide(RedisTest.layer())))
}
