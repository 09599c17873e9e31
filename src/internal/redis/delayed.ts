/**
 * Delayed entries: written to a sorted set beside the stream (`Naming.delayedName`,
 * score = due time, member = the entry's handle) with their fields in a hash
 * beside it, and moved into the stream when due by one script: it reads the
 * due handles in due order, XADDs each (its id assigned now), and only then
 * removes it from the set and the hash. A script runs alone on the server,
 * so any number of promoters at once add each entry exactly once.
 */
import { Effect, Metric } from "effect"
import { randomUUID } from "node:crypto"
import { delayedName } from "../../Naming.js"
import type * as Redis from "../../Redis.js"
import * as RedisError from "../../RedisError.js"

/** The two keys of a stream's delayed entries: the set of due times and the hash of fields. */
export interface Keys {
  readonly set: string
  readonly fields: string
}

/** The keys beside `stream`; `undefined` when none can share its slot. */
export const keysOf = (stream: string): Keys | undefined => {
  const set = delayedName(stream)
  return set === undefined ? undefined : { set, fields: `${set} entries` }
}

/**
 * KEYS: set, fields; ARGV: handle, time (ms), payload (JSON: fields and trim
 * arguments), "in" (due `time` ms from now, by the server's clock) or "at"
 * (due at epoch ms `time`). Returns the due time.
 */
const holdScript = `
local due = tonumber(ARGV[2])
if ARGV[4] == 'in' then
  local t = redis.call('TIME')
  due = due + tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], due, ARGV[1])
return due
`

/** KEYS: set, fields; ARGV: handle. Returns 1 when it was held (and is no longer). */
const cancelScript = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return removed
`

/** Entries written with a delay, held until due. */
export const held = Metric.counter("effect_redis_streams_entries_delayed", {
  description: "entries written with a delay, held until due",
  incremental: true
})

/** Delayed entries moved into their stream. */
export const moved = Metric.counter("effect_redis_streams_entries_promoted", {
  description: "delayed entries moved into their stream when due (or promoted by their handle)",
  incremental: true
})

/** When a delayed entry is due: `ms` from now by the server's clock, or at epoch ms. */
export type Due = { readonly in: number } | { readonly at: number }

/**
 * KEYS: stream, set, fields; ARGV: the most to move, then handles to move
 * whatever their due time (none: those due now, by the server's clock).
 * Returns { handle, id, handle, id, … } and the next due time (or false).
 */
const promoteScript = `
local handles
if #ARGV > 1 then
  handles = {}
  for i = 2, #ARGV do
    if redis.call('ZSCORE', KEYS[2], ARGV[i]) then table.insert(handles, ARGV[i]) end
  end
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  handles = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
end
local moved = {}
for _, handle in ipairs(handles) do
  local payload = redis.call('HGET', KEYS[3], handle)
  if payload then
    local entry = cjson.decode(payload)
    local args = {}
    for _, a in ipairs(entry.t) do table.insert(args, a) end
    table.insert(args, '*')
    for _, a in ipairs(entry.f) do table.insert(args, a) end
    local id = redis.call('XADD', KEYS[1], unpack(args))
    table.insert(moved, handle)
    table.insert(moved, id)
  end
  redis.call('ZREM', KEYS[2], handle)
  redis.call('HDEL', KEYS[3], handle)
end
local nextDue = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {moved, nextDue[2] or false}
`

/** The command that holds one entry until `due`. */
export const holdCommand = (
  keys: Keys,
  handle: string,
  due: Due,
  fields: ReadonlyArray<string>,
  trim: ReadonlyArray<Redis.Arg>
): Redis.Command => [
  "EVAL",
  [holdScript, 2, keys.set, keys.fields, handle, "in" in due ? due.in : due.at, JSON.stringify({ f: fields, t: trim }), "in" in due ? "in" : "at"]
]

/** Cancels a held entry by its handle: whether it was held. */
export const cancel = (sender: Redis.Sender, keys: Keys, handle: string): Effect.Effect<boolean, RedisError.RedisError> =>
  Effect.map(sender.send("EVAL", [cancelScript, 2, keys.set, keys.fields, handle]), (reply) => reply === 1)

/** A fresh handle for a delayed entry. */
export const newHandle = (): string => `delayed:${randomUUID()}`

/** What one promotion did: the entries moved (handle → entry id, in due order) and when the next is due. */
export interface Promoted {
  readonly moved: ReadonlyArray<{ readonly handle: string; readonly id: string }>
  readonly nextDue: number | undefined
}

const promoted = (reply: unknown): Effect.Effect<Promoted, RedisError.RedisError> => {
  if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[0])) {
    return Effect.fail(new RedisError.RedisError({ reason: "Command", command: "EVAL", message: `unexpected reply to a promotion: ${JSON.stringify(reply)}` }))
  }
  const flat = reply[0] as ReadonlyArray<unknown>
  const moved: Array<{ readonly handle: string; readonly id: string }> = []
  for (let i = 0; i + 1 < flat.length; i += 2) moved.push({ handle: String(flat[i]), id: String(flat[i + 1]) })
  return Effect.succeed({ moved, nextDue: reply[1] === null || reply[1] === false ? undefined : Number(reply[1]) })
}

/** Moves the due entries (at most `count`), or the given handles whatever their due time. */
export const promote = (
  sender: Redis.Sender,
  stream: string,
  keys: Keys,
  count: number,
  handles: ReadonlyArray<string> = []
): Effect.Effect<Promoted, RedisError.RedisError> =>
  Effect.flatMap(sender.send("EVAL", [promoteScript, 3, stream, keys.set, keys.fields, count, ...handles]), promoted).pipe(
    Effect.tap((done) => Metric.incrementBy(moved, done.moved.length))
  )

/** The commands that count a stream's delayed entries and find the next due: ZCARD, and the set's first with its score. */
export const statsCommands = (keys: Keys): ReadonlyArray<Redis.Command> => [["ZCARD", [keys.set]], ["ZRANGE", [keys.set, 0, 0, "WITHSCORES"]]]

/** The replies of {@link statsCommands}: how many are held, and the next due time (epoch ms), if any. */
export const statsOf = (count: unknown, first: unknown): { readonly count: number; readonly nextDue: number | undefined } => ({
  count: Number(count),
  nextDue: Array.isArray(first) && first.length === 2 ? Number(first[1]) : undefined
})
