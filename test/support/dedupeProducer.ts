/**
 * A producer as a process of its own, for the test of deduplicated writes
 * from two processes at once: `writes` writes of `keys` keys (each key
 * `writes / keys` times, in an order of its own), 20 in flight at once,
 * each `Streams.xaddMap` with `dedupe`. Prints the `[key, id]` pairs it got
 * as one JSON line.
 *
 *   node --import tsx test/support/dedupeProducer.ts <url> <stream> <writes> <keys> <seed>
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Redis from "../../src/Redis.js"
import * as Streams from "../../src/Streams.js"

const [url, stream, writes, keys, seed] = process.argv.slice(2)
if (seed === undefined) throw new Error("usage: dedupeProducer.ts <url> <stream> <writes> <keys> <seed>")

// a permutation of the writes that differs per seed, so the two processes race on different keys first
const order = Array.from({ length: Number(writes) }, (_, i) => (i * 7919 + Number(seed) * 104729) % Number(writes))

const program = Effect.forEach(order, (n) => {
  const key = `k${n % Number(keys)}`
  return Effect.map(Streams.xaddMap(stream!, "*", { key, n }, { dedupe: { key, ttl: "1 minute" } }), (id) => [key, id] as const)
}, { concurrency: 20 }).pipe(Effect.flatMap((pairs) => Console.log(JSON.stringify(pairs))))

program.pipe(Effect.provide(Redis.layer(url!)), NodeRuntime.runMain)
