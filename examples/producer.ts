/**
 * A small producer: writes one entry with `xaddMap`, a thousand more with
 * `xaddAll`, and reads the first few back.
 *
 *   npx tsx producer.ts                            # in your app: spawns a redis-server for the run
 *   REDIS_URL=redis://localhost:6379 npx tsx producer.ts   # uses your server
 *   npm run example examples/producer.ts           # in this repository (the package name resolves to src/)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { pathToFileURL } from "node:url"
import { MessageId, Naming, Streams } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

/** The program: needs a `Redis.Redis` in its context. */
export const main = Effect.gen(function*() {
  const stream = Naming.streamName("sensor-readings")
  const first = yield* Streams.xaddMap(stream, "*", { sensor: "kitchen", celsius: 21.5 })
  const readings = Array.from({ length: 1000 }, (_, i) => ({ sensor: `room-${i % 10}`, celsius: 18 + (i % 7) }))
  const ids = yield* Streams.xaddAll(stream, readings, { trim: { maxLen: 100_000, approximate: true } })
  // Read back from our first entry on (the stream may hold older ones).
  const back = yield* Streams.read(stream, { from: MessageId.prev(first), count: 3 })
  for (const entry of back) yield* Effect.log(`${entry.id} ${JSON.stringify(entry.fields)}`)
  yield* Effect.log(`wrote ${1 + ids.length} entries to ${stream}`)
  return { stream, first, written: 1 + ids.length, back }
})

// RedisTest.layer() uses REDIS_URL when it is set, and otherwise spawns a redis-server on a free port.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main.pipe(Effect.provide(RedisTest.layer())))
}
