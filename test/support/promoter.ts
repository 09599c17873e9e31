/**
 * A promoter as a process of its own, for the test of delayed delivery with
 * competing promoters: `Streams.promoteDue` of one stream every 10 ms until
 * killed, printing one JSON line `[handle, id]…` per promotion that moved
 * something.
 *
 *   node --import tsx test/support/promoter.ts <url> <stream>
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schedule } from "effect"
import * as Redis from "../../src/Redis.js"
import * as Streams from "../../src/Streams.js"

const [url, stream] = process.argv.slice(2)
if (stream === undefined) throw new Error("usage: promoter.ts <url> <stream>")

const once = Effect.flatMap(Streams.promoteDue(stream, { count: 50 }), (moved) =>
  moved.length === 0 ? Effect.void : Console.log(JSON.stringify(moved.map(({ handle, id }) => [handle, id]))))

Console.log("ready").pipe(
  Effect.zipRight(Effect.repeat(once, Schedule.spaced("10 millis"))),
  Effect.provide(Redis.layer(url!)),
  NodeRuntime.runMain
)
