/**
 * Consumer groups: idempotent creation, names, stats and clearing pending entries.
 *
 * @since 0.1.0
 */
import type { Duration } from "effect"
import { Effect } from "effect"
import * as Redis from "./Redis.js"
import * as RedisError from "./RedisError.js"

/**
 * Options of {@link create}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CreateOptions {
  /** Where the group starts reading when it is created: `"$"` (new entries only, the default), `"0"` (everything) or an id. */
  readonly from?: string | undefined
  /**
   * Deregister consumers of an existing group that have been idle longer than
   * this and hold no pending entries.
   */
  readonly deregisterIdle?: Duration.DurationInput | undefined
}

const createOne = (stream: string, group: string, from: string) =>
  Effect.flatMap(Redis.Redis, (redis) => redis.send("XGROUP", ["CREATE", stream, group, from, "MKSTREAM"])).pipe(
    Effect.as(true),
    Effect.catchIf((error) => error.reason === "BusyGroup", () => Effect.succeed(true))
  )

/**
 * Creates the group on each stream (and the stream itself when missing).
 * Idempotent: a group that exists already is success.
 *
 * @since 0.1.0
 * @category constructors
 */
export const create = (
  streams: string | ReadonlyArray<string>,
  group: string,
  options: CreateOptions = {}
): Effect.Effect<boolean, RedisError.RedisError, Redis.Redis> =>
  Effect.forEach(typeof streams === "string" ? [streams] : streams, (stream) => createOne(stream, group, options.from ?? "$"))
    .pipe(Effect.as(true), Effect.withSpan("Groups.create"))
