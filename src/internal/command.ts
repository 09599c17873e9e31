/**
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
