/**
 * Dead-letter redrive: an order the handler cannot process goes to the
 * dead-letter stream; once the bug is fixed it is put back on its stream and
 * handled.
 *
 *   npx tsx redrive.ts                            # in your app: spawns a redis-server for the run
 *   REDIS_URL=redis://localhost:6379 npx tsx redrive.ts   # uses your server
 *   npm run example examples/redrive.ts           # in this repository (the package name resolves to src/)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { pathToFileURL } from "node:url"
import { Gc, Groups, Naming, Redis } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

const stream = Naming.streamName("orders")
const group = Naming.groupName("ship-orders")
const consumer = Naming.consumerName("ship-orders", 0)
const dlq = Naming.streamName("orders-dlq")

/** Reads new orders as `consumer` and returns their ids (a stand-in for a consumer whose handler fails). */
const readOrders = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const reply = yield* redis.send("XREADGROUP", ["GROUP", group, consumer, "COUNT", 10, "STREAMS", stream, ">"])
  const entries = Array.isArray(reply) && Array.isArray(reply[0]) && Array.isArray(reply[0][1]) ? reply[0][1] : []
  return entries.map((entry: unknown) => (Array.isArray(entry) ? String(entry[0]) : ""))
})

/** The program: needs a `Redis.Redis` in its context. */
export const main = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  yield* redis.send("DEL", [stream, dlq])
  yield* Groups.create(stream, group)
  yield* redis.send("XADD", [stream, "*", "order", "42", "country", "Atlantis"])

  // the handler fails on this order (no ack); gc gives up on it after one delivery
  yield* readOrders
  yield* Gc.collect(stream, group, { dlq: { deliveries: 1, stream: dlq } })
  const letters = yield* Gc.deadLetters(dlq, { stream })
  yield* Effect.log(`dead letters: ${letters.map((l) => `${l.id} ${JSON.stringify(l.fields)}`).join("; ")}`)

  // the handler is fixed: put the order back on its stream
  const redriven = yield* Gc.redrive(dlq, { stream, group })
  yield* Effect.log(`redriven: ${redriven.map((r) => `${r.id} -> ${r.redrivenId}`).join("; ")}`)

  const ids = yield* readOrders
  if (ids.length > 0) yield* redis.send("XACK", [stream, group, ...ids])
  const left = yield* redis.send("XLEN", [dlq])
  yield* Effect.log(`handled after redrive: ${ids.length}, left in the dead-letter stream: ${left}`)
  return { stream, letters, redriven, handled: ids, left }
})

// RedisTest.layer() uses REDIS_URL when it is set, and otherwise spawns a redis-server on a free port.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main.pipe(Effect.provide(RedisTest.layer())))
}
