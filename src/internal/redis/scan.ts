/**
 * Finding keys without blocking Redis: SCAN … TYPE stream over one master
 * node, page by page (never KEYS). `Streams.allStreamKeys` runs it on every
 * master; the dashboard keeps each master's keys apart, to pipeline its
 * reads per master.
 */
import { Effect } from "effect"
import type * as Redis from "../../Redis.js"
import type * as RedisError from "../../RedisError.js"
import * as replies from "./replies.js"

/** Keys per SCAN page (a hint to Redis). */
const PAGE = 1000

/** The keys of type stream matching `pattern` on one node. */
export const streamKeys = (master: Redis.Sender, pattern: string): Effect.Effect<ReadonlyArray<string>, RedisError.RedisError> =>
  Effect.gen(function*() {
    const keys: Array<string> = []
    let cursor = "0"
    do {
      const page = yield* Effect.flatMap(master.send("SCAN", [cursor, "MATCH", pattern, "COUNT", PAGE, "TYPE", "stream"]), replies.scan)
      for (const key of page.keys) keys.push(key)
      cursor = page.cursor
    } while (cursor !== "0")
    return keys
  })
