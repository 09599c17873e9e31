/**
 * `CLIENT UNBLOCK` of every connection whose name matches, on every master:
 * `ERROR` ends a blocking read with an error (an operator's unblock, which
 * stops a consumer), `TIMEOUT` as if its block time had passed (a wake-up:
 * the consumer reads again at once, as `Groups.pause` needs).
 */
import { Effect } from "effect"
import * as Redis from "../../Redis.js"
import type * as RedisError from "../../RedisError.js"
import * as replies from "./replies.js"

/** Unblocks the matching connections blocked now; returns how many were. */
export const unblockWhere = (
  matches: (name: string) => boolean,
  mode: "ERROR" | "TIMEOUT"
): Effect.Effect<number, RedisError.RedisError, Redis.Redis> =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const masters = yield* redis.masters
    const counts = yield* Effect.forEach(masters, (master) =>
      Effect.gen(function*() {
        const clients = yield* Effect.flatMap(master.send("CLIENT", ["LIST", "TYPE", "normal"]), replies.clientList)
        const unblocked = yield* Effect.forEach(
          clients.filter((client) => client.name.length > 0 && matches(client.name)),
          (client) => master.send("CLIENT", ["UNBLOCK", client.id, mode]),
          { concurrency: "unbounded" }
        )
        return unblocked.filter((reply) => Number(reply) === 1).length
      }), { concurrency: "unbounded" })
    return counts.reduce((a, b) => a + b, 0)
  })

/** The names of a group's consumers on a stream, as XINFO CONSUMERS lists them. */
export const consumerNames = (stream: string, group: string): Effect.Effect<ReadonlySet<string>, RedisError.RedisError, Redis.Redis> =>
  Effect.flatMap(Redis.Redis, (redis) =>
    Effect.map(Effect.flatMap(redis.send("XINFO", ["CONSUMERS", stream, group]), replies.consumerInfos), (consumers) =>
      new Set(consumers.map((consumer) => consumer.name))))
