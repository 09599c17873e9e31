/**
 * The last error of each failing entry, kept in Redis so that whoever
 * dead-letters it later (gc, a sibling's self-claim, the consumer itself)
 * can write it into the letter: a hash beside the stream, in its hash slot,
 * field = entry id, value = the error as JSON (`{ tag?, message, data? }`,
 * bounded). A consumer sets it when a handler fails, drops it (HDEL with its
 * acks) when the entry is handled after all, and the dead-letter script
 * takes it; the hash
 * expires a week after its last failure, so ids acked by other means
 * (clearPending, trimming) do not pile up.
 */
import { Cause, Effect, Option, Predicate } from "effect"
import type * as Redis from "../../Redis.js"
import { describeFailure, ownFieldsOf } from "./failure.js"
import { slotted } from "../redis/keys.js"

/** How long the hash of a stream lives after its last failure. */
const keepFor = 7 * 24 * 60 * 60 * 1_000

/** The most characters of a message, and of the JSON of its own fields, that are kept. */
const maxMessage = 1_000
const maxData = 2_000

/**
 * The hash of `stream`'s last errors, in its hash slot: `errors/{tag}<stream>`
 * for a stream with a hash tag, `errors/{<stream>}` otherwise; `undefined`
 * when no key can share its slot (a name with `}` but no hash tag).
 */
export const keyOf = (stream: string): string | undefined => slotted("errors", stream)

/** A failure as a letter keeps it: its tag, message and own fields, as JSON, bounded in size. */
export const encode = (failure: unknown): string => {
  const tag = Predicate.hasProperty(failure, "_tag") && typeof failure._tag === "string" ? failure._tag : undefined
  const message = Predicate.hasProperty(failure, "message") && typeof failure.message === "string"
    ? failure.message
    : tag === undefined ? describeFailure(failure) : ""
  let data: string | undefined
  try {
    const own = typeof failure === "object" && failure !== null ? ownFieldsOf(failure) : undefined
    data = own === undefined ? undefined : JSON.stringify(own)
  } catch {
    data = undefined
  }
  const error = {
    ...(tag === undefined ? (failure instanceof Error ? { tag: failure.name } : {}) : { tag }),
    message: message.length > maxMessage ? `${message.slice(0, maxMessage)}…` : message,
    ...(data === undefined || data.length > maxData ? {} : { data: JSON.parse(data) as unknown })
  }
  return JSON.stringify(error)
}

/** The failure of a cause: its first typed error, or else its first defect, or else what it is. */
export const failureOf = <E>(cause: Cause.Cause<E>): unknown =>
  Option.getOrElse(Cause.failureOption(cause), () => Option.getOrElse(Cause.dieOption(cause), () => Cause.pretty(cause)))

/**
 * Sets the last error of an entry that is still pending (KEYS: stream,
 * errors; ARGV: group, id, error, ms to keep): one already acked or
 * dead-lettered meanwhile (gc may move an entry while its handler runs)
 * leaves nothing behind.
 */
const recordScript = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1`

/** Records an entry's last failure (errors are logged, never failed on: the failure itself is what counts). */
export const record = (redis: Redis.Service, stream: string, group: string, id: string, failure: unknown): Effect.Effect<void> => {
  const key = keyOf(stream)
  return key === undefined ? Effect.void : redis.send("EVAL", [recordScript, 2, stream, key, group, id, encode(failure), keepFor]).pipe(
    Effect.catchAll((error) => Effect.logDebug(`could not record the failure of ${id}: ${error.message}`)),
    Effect.asVoid
  )
}
