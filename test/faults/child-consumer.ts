/**
 * A consumer in a process of its own, for the SIGKILL fault case:
 *
 *   node --import tsx test/faults/child-consumer.ts <url> <stream> <group> <consumer> <handler-ms> <handled-list>
 *
 * Runs `Consumer.run` with a slow handler (count 10) that RPUSHes each entry's
 * id to `<handled-list>` once done, so the parent can count what it handled.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as Consumer from "../../src/Consumer.js"
import * as Redis from "../../src/Redis.js"

const [url, stream, group, consumer, millis, handledList] = process.argv.slice(2)
if (handledList === undefined) throw new Error("usage: child-consumer.ts <url> <stream> <group> <consumer> <handler-ms> <handled-list>")

const program = Consumer.run({
  stream: stream!,
  group: group!,
  consumer: consumer!,
  block: 200,
  count: 10,
  handler: (message) =>
    Effect.sleep(Number(millis)).pipe(
      Effect.zipRight(Effect.flatMap(Redis.Redis, (redis) => redis.send("RPUSH", [handledList, message.id])))
    )
})

NodeRuntime.runMain(program.pipe(Effect.provide(Redis.layer(url!))))
