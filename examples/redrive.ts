/**
 * Dead-letter redrive: an order the handler cannot process goes to the
 * dead-letter stream; once the bug is fixed it is put back on its stream and
 * handled.
 *
 * Run: REDIS_URL=redis://localhost:6379 npx tsx examples/redrive.ts
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Gc, Groups, Naming, Redis } from "../src/index.js"

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

const program = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  yield* redis.send("DEL", [stream, dlq])
  yield* Groups.create(stream, group)
  yield* redis.send("XADD", [stream, "*", "order", "42", "country", "Atlantis"])

  // the handler fails on this order (no ack); gc gives up on it after one delivery
  yield* readOrders
  yield* Gc.collect(stream, group, { dlq: { deliveries: 1, stream: dlq } })
  const letters = yield* Gc.deadLetters(dlq, { stream })
  yield* Console.log(`dead letters: ${letters.map((l) => `${l.id} ${JSON.stringify(l.fields)}`).join("; ")}`)

  // the handler is fixed: put the order back on its stream
  const redriven = yield* Gc.redrive(dlq, { stream, group })
  yield* Console.log(`redriven: ${redriven.map((r) => `${r.id} -> ${r.redrivenId}`).join("; ")}`)

  const ids = yield* readOrders
  if (ids.length > 0) yield* redis.send("XACK", [stream, group, ...ids])
  yield* Console.log(`handled after redrive: ${ids.length}, left in the dead-letter stream: ${yield* redis.send("XLEN", [dlq])}`)
})

program.pipe(Effect.provide(Redis.layerConfig()), NodeRuntime.runMain)
