/**
 * Garbage collection on a schedule: a consumer crashes holding entries, gc
 * hands them to a live consumer, deregisters the dead one, and moves a poison
 * message that keeps failing to the dead-letter stream.
 *
 *   npx tsx gc.ts                            # in your app: spawns a redis-server for the run
 *   REDIS_URL=redis://localhost:6379 npx tsx gc.ts   # uses your server
 *   npm run example examples/gc.ts           # in this repository (the package name resolves to src/)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Schedule } from "effect"
import { pathToFileURL } from "node:url"
import { Gc, Groups, Naming, Redis } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

const stream = Naming.streamName("gc-example")
const group = Naming.groupName("persist-readings")
const dead = Naming.consumerName("persist-readings", 0)
const live = Naming.consumerName("persist-readings", 1)
const dlq = Naming.streamName("gc-example-dlq")

const options: Gc.CollectOptions = {
  rebalance: { idle: "50 millis", siblings: "active", distribution: "lra" },
  dlq: { deliveries: 3, stream: dlq },
  deregister: { idle: "50 millis" }
}

// In production: Schedule.spaced("30 seconds").pipe(Schedule.jittered).
// Here two quick passes, so the example ends.
const policy = Schedule.spaced("100 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(1)))

/** The live consumer works through its pending entries; the handler always fails on poison. */
const handleBacklog = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const reply = yield* redis.send("XREADGROUP", ["GROUP", group, live, "COUNT", 100, "STREAMS", stream, "0"])
  const entries = Array.isArray(reply) && Array.isArray(reply[0]) && Array.isArray(reply[0][1]) ? reply[0][1] : []
  const handled = entries.flatMap((entry: unknown) =>
    Array.isArray(entry) && !(Array.isArray(entry[1]) && entry[1].includes("poison")) ? [String(entry[0])] : []
  )
  if (handled.length > 0) yield* redis.send("XACK", [stream, group, ...handled])
  return handled.length
})

/** The program: needs a `Redis.Redis` in its context. */
export const main = Effect.gen(function*() {
  const redis = yield* Redis.Redis
  yield* redis.send("DEL", [stream, dlq])
  yield* Groups.create(stream, group, { from: "0" })
  for (const reading of ["21.5", "21.7", "poison", "22.0"]) yield* redis.send("XADD", [stream, "*", "temperature", reading])

  // consumer 0 reads everything and dies before acking anything
  yield* redis.send("XREADGROUP", ["GROUP", group, dead, "COUNT", 10, "STREAMS", stream, ">"])
  yield* redis.send("XGROUP", ["CREATECONSUMER", stream, group, live])

  // gc on a schedule: the dead consumer's entries go to the live one, then the dead one is deregistered
  yield* Gc.schedule(stream, group, options, policy)

  let handled = 0
  for (let round = 0; round < 3; round++) handled += yield* handleBacklog
  yield* Effect.log(`handled by ${live}: ${handled}`)

  // the poison message has now been delivered 3 times: the next pass dead-letters it
  const actions = yield* Gc.collect(stream, group, options)
  yield* Effect.log(`last pass: ${actions.map((action) => action._tag).join(", ")}`)
  const letters = yield* Gc.deadLetters(dlq)
  for (const letter of letters) {
    yield* Effect.log(`dead letter: ${letter.id} from ${letter.consumer}, ${letter.deliveries} deliveries, ${JSON.stringify(letter.fields)}`)
  }
  const consumers = yield* redis.send("XINFO", ["CONSUMERS", stream, group])
  const left = Array.isArray(consumers) ? consumers.length : 0
  yield* Effect.log(`consumers left: ${left}`)
  return { stream, group, live, handled, actions, letters, consumersLeft: left }
})

// RedisTest.layer() uses REDIS_URL when it is set, and otherwise spawns a redis-server on a free port.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main.pipe(Effect.provide(RedisTest.layer())))
}
