/**
 * Deduplicated writes: an XADD that a dedupe key guards for a time. One
 * script per write reads the key; when it holds the id of an earlier write,
 * nothing is written and that id comes back; otherwise it writes the entry
 * and sets the key to its id, to expire after the ttl. A script runs alone
 * on the server, so two producers writing the same key at once write one
 * entry. The key lives beside the stream, in its hash slot (`keys.ts`):
 * `dedupe/{tag}<stream> <key>` or `dedupe/{<stream>} <key>`.
 *
 * Redis 8.6's own idempotent XADD (`IDMP producer iid`) is not used, even
 * where the server has it: its window is a setting of the whole stream (at
 * most 24 hours, and `XCFGSET` clears it) and it keeps at most 10 000 ids
 * per producer, evicting older ones early, so it cannot keep a per-write
 * `ttl`; the script keeps it on every version from 6.2 on.
 */
import { Effect } from "effect"
import type * as Redis from "../../Redis.js"
import * as RedisError from "../../RedisError.js"
import { beside } from "./keys.js"

/** KEYS: stream, dedupe key; ARGV: ttl (ms), then the XADD arguments after the key. Returns `{ 1, id }` written, `{ 0, id }` deduplicated. */
const script = `
local first = redis.call('GET', KEYS[2])
if first then return {0, first} end
local id = redis.call('XADD', KEYS[1], unpack(ARGV, 2))
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return {1, id}
`

/** The dedupe key of `key` on `stream`, in the stream's slot; `undefined` when none can share it (a `}` but no hash tag). */
export const keyOf = (stream: string, key: string): string | undefined => beside("dedupe", stream, key)

/** The dedupe key, checked: a non-empty string on a stream that can have one. */
export const validKey = (stream: string, key: unknown): Effect.Effect<string, RedisError.RedisError> => {
  if (typeof key !== "string" || key.length === 0) {
    return Effect.fail(RedisError.invalidArgument("XADD", `a dedupe key must be a non-empty string, got ${JSON.stringify(key)}`))
  }
  const redisKey = keyOf(stream, key)
  return redisKey === undefined
    ? Effect.fail(RedisError.invalidArgument("XADD", `${JSON.stringify(stream)} has a "}" but no hash tag: its dedupe keys cannot share its slot; give it a hash tag`))
    : Effect.succeed(redisKey)
}

/** The script's command for one write: `xadd` is XADD's whole argument list, the stream first. */
export const command = (redisKey: string, ttl: number, xadd: ReadonlyArray<Redis.Arg>): Redis.Command => [
  "EVAL",
  [script, 2, xadd[0]!, redisKey, ttl, ...xadd.slice(1)]
]

/** A write's outcome: the entry's id, and whether this call wrote it. */
export interface Written {
  readonly id: string
  readonly written: boolean
}

/** The script's reply. */
export const written = (reply: unknown): Effect.Effect<Written, RedisError.RedisError> =>
  Array.isArray(reply) && reply.length === 2 && typeof reply[1] === "string" && (reply[0] === 0 || reply[0] === 1)
    ? Effect.succeed({ id: reply[1], written: reply[0] === 1 })
    : Effect.fail(new RedisError.RedisError({ reason: "Command", command: "XADD", message: `unexpected reply to a deduplicated XADD: ${JSON.stringify(reply)}` }))
