/**
 * Consumers simulated with raw XREADGROUP / XACK, and fixtures for the Gc tests.
 */
import { Effect } from "effect"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import * as Replies from "../src/internal/redis/replies.js"
import { eventually } from "./utils.js"

let counter = 0

/** A fresh stream, group and dead-letter stream per test. */
export const names = () => {
  counter++
  const tag = `gc${counter}-${Date.now()}`
  return { stream: `stream/${tag}`, group: `group/${tag}`, dlq: `stream/${tag}-dlq`, consumer: (n: number) => `consumer/${tag}/${n}` }
}

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

/** Creates the group and writes `n` entries `{ n: i }` (plus `extra` fields); returns their ids. */
export const setup = (stream: string, group: string, n: number, extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    yield* Groups.create(stream, group, { from: "0" })
    const ids: Array<string> = []
    for (let i = 0; i < n; i++) {
      ids.push(String(yield* send("XADD", [stream, "*", "n", i, ...Object.entries(extra).flat()])))
    }
    return ids
  })

/** XREADGROUP as `consumer`: new entries (`">"`) or its own pending ones (`"0"`); returns the entries. */
export const read = (stream: string, group: string, consumer: string, count: number, from = ">") =>
  send("XREADGROUP", ["GROUP", group, consumer, "COUNT", count, "STREAMS", stream, from]).pipe(
    Effect.flatMap((reply) => Replies.streams("XREADGROUP", reply)),
    Effect.map((streams) => streams.flatMap((s) => s.entries))
  )

export const ack = (stream: string, group: string, ids: ReadonlyArray<string>) =>
  ids.length === 0 ? Effect.succeed(0) : send("XACK", [stream, group, ...ids])

/** Makes entries look idle for `ms` (XCLAIM … IDLE to their own consumer), so tests need no sleeping. */
export const age = (stream: string, group: string, consumer: string, ids: ReadonlyArray<string>, ms: number) =>
  send("XCLAIM", [stream, group, consumer, 0, ...ids, "IDLE", ms, "JUSTID"])

/** The group's pending entries. */
export const pending = (stream: string, group: string) =>
  Effect.flatMap(send("XPENDING", [stream, group, "-", "+", 100_000]), Replies.pendingEntries)

export const consumers = (stream: string, group: string) =>
  Effect.flatMap(send("XINFO", ["CONSUMERS", stream, group]), Replies.consumerInfos)

/** The live consumer "handles" its pending list: reads it and acks it; returns the handled ids. */
export const handleOwnPending = (stream: string, group: string, consumer: string) =>
  Effect.gen(function*() {
    const entries = yield* read(stream, group, consumer, 1000, "0")
    const ids = entries.map((e) => e.id)
    yield* ack(stream, group, ids)
    return ids
  })

/** Registers a consumer that has read nothing (a live one, waiting). */
export const createConsumer = (stream: string, group: string, consumer: string) =>
  send("XGROUP", ["CREATECONSUMER", stream, group, consumer])

/** Waits (polling, real time) until `consumer` has been idle longer than `ms`. */
export const idleLongerThan = (stream: string, group: string, consumer: string, ms: number) =>
  eventually(Effect.flatMap(consumers(stream, group), (all) =>
    (all.find((c) => c.name === consumer)?.idle ?? -1) > ms ? Effect.void : Effect.fail(`${consumer} not idle for ${ms} ms yet`)))
