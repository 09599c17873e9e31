/**
 * **`internal/redis/`** serves `Redis.ts`, the ground floor every feature
 * stands on; this is the folder's main module (the type every other file
 * shares). Its files:
 * - `command.ts` (this module): a command as the library sends it
 * - `slots.ts`: cluster hash slots, and commands whose keys would cross them
 * - `validate.ts`: checks of counts and durations, one error for each
 * - `replies.ts`: the parsers of every reply shape the library reads
 * - `scan.ts`: SCAN over each master (`scan.ts`, `dedupe.ts` and
 *   `unblock.ts` build on `Redis.ts`)
 * - `trace.ts`: the W3C trace context entries carry from producer to consumer
 * - `keys.ts`: keys beside a stream, in its hash slot (dedupe, pause)
 * - `dedupe.ts`: the script of deduplicated writes
 * - `delayed.ts`: delayed entries, held beside the stream and moved in when due
 * - `unblock.ts`: CLIENT UNBLOCK of named connections on every master
 * Only `RedisError.ts` and the other ground-floor modules lie below it.
 *
 * The shape of a Redis command as the library sends it: a name and its
 * arguments. Its own module so that `Redis.ts` and the modules it builds on
 * (`slots.ts`) share it without importing each other; `Redis` re-exports it.
 */

/**
 * An argument of a Redis command.
 *
 * @since 0.1.0
 * @category models
 */
export type Arg = string | number | Buffer

/**
 * A command and its arguments, as sent in a pipeline or a transaction.
 *
 * @since 0.1.0
 * @category models
 */
export type Command = readonly [command: string, args: ReadonlyArray<Arg>]
