/**
 * The one error type of effect-redis-streams.
 *
 * Every failure that comes from Redis, from the connection, or from input the
 * library refuses before it reaches Redis is a `RedisError` with a `reason`.
 * Redis error replies are mapped to a reason in one place: {@link fromCause}.
 *
 * @since 0.1.0
 */
import { Predicate, Schema } from "effect"

/**
 * Why a {@link RedisError} happened.
 *
 * - `Connection`: the server could not be reached, the connection was lost,
 *   or the server is still loading its data set. Retryable.
 * - `Auth`: the server refused the credentials (a wrong or missing
 *   password or user). Not retryable: the settings must change.
 * - `Unblocked`: a blocking read was ended by `CLIENT UNBLOCK … ERROR`.
 * - `NoGroup`: the consumer group (or its stream) does not exist.
 * - `BusyGroup`: the consumer group already exists.
 * - `WrongType`: the key holds a value that is not a stream.
 * - `NoSuchKey`: the stream does not exist.
 * - `InvalidArgument`: bad input: a malformed or too small id, an empty name,
 *   a name with whitespace, an empty record, a negative duration, a URL,
 *   port or database the server cannot be reached at.
 * - `CrossSlot`: a Redis Cluster operation needs keys that are in different slots.
 * - `Command`: any other error reply.
 *
 * @since 0.1.0
 * @category models
 */
export const Reason = Schema.Literal(
  "Connection",
  "Auth",
  "Unblocked",
  "NoGroup",
  "BusyGroup",
  "WrongType",
  "NoSuchKey",
  "InvalidArgument",
  "CrossSlot",
  "Command"
)

/**
 * @since 0.1.0
 * @category models
 */
export type Reason = typeof Reason.Type

/**
 * The error of every effect-redis-streams operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisError extends Schema.TaggedError<RedisError>("effect-redis-streams/RedisError")("RedisError", {
  reason: Reason,
  command: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * Whether repeating the operation later may succeed (a lost or not yet
   * available connection).
   *
   * @since 0.1.0
   */
  get isRetryable(): boolean {
    return this.reason === "Connection"
  }
}

/**
 * @since 0.1.0
 * @category refinements
 */
export const isRedisError = (u: unknown): u is RedisError => Predicate.isTagged(u, "RedisError")

/**
 * True for a `RedisError` caused by `CLIENT UNBLOCK … ERROR`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isUnblocked = (u: unknown): boolean => isRedisError(u) && u.reason === "Unblocked"

/**
 * True for a `RedisError` with reason `Connection`.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isConnection = (u: unknown): boolean => isRedisError(u) && u.reason === "Connection"

/**
 * An error for input refused before it reaches Redis.
 *
 * @since 0.1.0
 * @category constructors
 */
export const invalidArgument = (command: string, message: string): RedisError =>
  new RedisError({ reason: "InvalidArgument", command, message })

const replyReasons: ReadonlyArray<readonly [RegExp, Reason]> = [
  [/^(WRONGPASS|NOAUTH|NOPERM)|^ERR (invalid password|AUTH <password> called without|Client sent AUTH)/i, "Auth"],
  [/^NOGROUP/, "NoGroup"],
  [/^BUSYGROUP/, "BusyGroup"],
  [/^WRONGTYPE/, "WrongType"],
  // a read blocked on a stream that is deleted: its groups went with it, as a read after the deletion says (NOGROUP)
  [/^UNBLOCKED the stream key no longer exists/, "NoGroup"],
  [/^UNBLOCKED/, "Unblocked"],
  [/^ERR no such key/i, "NoSuchKey"],
  [/^CROSSSLOT/, "CrossSlot"],
  [/^LOADING|^MASTERDOWN|^TRYAGAIN|^CLUSTERDOWN/, "Connection"],
  [/^ERR (Invalid stream ID|The ID specified in XADD)/i, "InvalidArgument"]
]

const connectionMessages =
  /Connection is closed|Command aborted due to connection close|Stream isn't writeable|max retries per request|Command timed out|connect ETIMEDOUT|ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ended by client|Failed to refresh slots cache|None of startup nodes is available/i

const messageOf = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)

/**
 * The reason for an error reply or a client error, by its message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const reasonOf = (cause: unknown): Reason => {
  if (isRedisError(cause)) return cause.reason
  const message = messageOf(cause)
  for (const [pattern, reason] of replyReasons) {
    if (pattern.test(message)) return reason
  }
  if (connectionMessages.test(message)) return "Connection"
  const code = Predicate.hasProperty(cause, "code") ? cause.code : undefined
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return "Connection"
  return "Command"
}

/**
 * Maps anything ioredis rejected with (an error reply or a client error) to a
 * `RedisError`. A `RedisError` is returned as it is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCause = (command: string, cause: unknown): RedisError =>
  isRedisError(cause) ? cause : new RedisError({ reason: reasonOf(cause), command, message: messageOf(cause), cause })
