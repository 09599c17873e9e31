/**
 * Checks of numeric options (counts and durations), shared by every module
 * that takes them, so that each bad value fails the same way: a `RedisError`
 * with reason `InvalidArgument` naming the command and the option, before
 * anything is sent. Names are checked by `Redis.validateName`.
 */
import { Duration, Effect, Option } from "effect"
import * as RedisError from "../../RedisError.js"

/**
 * A negative input, which `Duration.decode` would silently take as zero
 * (`-1`, `"-5 seconds"`, `[-1, 0]`, `-1n`).
 */
const isNegative = (input: unknown): boolean =>
  (typeof input === "number" && input < 0) ||
  (typeof input === "bigint" && input < BigInt(0)) ||
  (typeof input === "string" && /^\s*-/.test(input)) ||
  (Array.isArray(input) && input.some((part) => (typeof part === "number" && part < 0) || (typeof part === "bigint" && part < BigInt(0))))

/** A number input that is NaN, alone or in a `[seconds, nanos]` pair, which `Duration.decode` would take as zero. */
const isNaNInput = (input: unknown): boolean =>
  (typeof input === "number" && Number.isNaN(input)) ||
  (Array.isArray(input) && input.some((part) => typeof part === "number" && Number.isNaN(part)))

/** Milliseconds of a duration input: NaN when it is not one (NaN itself included), `-Infinity` when it is negative. */
const millisOf = (input: unknown): number => {
  if (isNaNInput(input)) return NaN
  if (isNegative(input)) return -Infinity
  const decoded = Duration.decodeUnknown(input)
  return Option.isSome(decoded) ? Duration.toMillis(decoded.value) : NaN
}

/** A positive safe integer, or `fallback` when absent. */
export const positiveInteger = (command: string, what: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isSafeInteger(value) && value > 0
    ? Effect.succeed(value)
    : Effect.fail(RedisError.invalidArgument(command, `${what} must be a positive integer, got ${value}`))

/** A finite duration of at least 1 ms, in whole milliseconds. */
export const positiveMillis = (command: string, what: string, value: Duration.DurationInput) => {
  const millis = millisOf(value)
  return Number.isFinite(millis) && millis >= 1
    ? Effect.succeed(Math.round(millis))
    : Effect.fail(RedisError.invalidArgument(command, `${what} must be a finite duration of at least 1 ms`))
}

/** A duration of 0 or more (infinity allowed) in milliseconds, or `undefined` when absent. */
export const nonNegativeMillis = (
  command: string,
  what: string,
  value: Duration.DurationInput | undefined
): Effect.Effect<number | undefined, RedisError.RedisError> => {
  if (value === undefined) return Effect.succeed(undefined)
  const millis = millisOf(value)
  return Number.isNaN(millis)
    ? Effect.fail(RedisError.invalidArgument(command, `${what} is not a duration: ${JSON.stringify(value)}`))
    : millis < 0
    ? Effect.fail(RedisError.invalidArgument(command, `${what} must be a non-negative duration`))
    : Effect.succeed(millis)
}

/** An integer of 0 or more, or `Infinity`, or `undefined` when absent. */
export const nonNegativeCount = (
  command: string,
  what: string,
  value: number | undefined
): Effect.Effect<number | undefined, RedisError.RedisError> =>
  value === undefined || (value >= 0 && (Number.isInteger(value) || value === Infinity))
    ? Effect.succeed(value)
    : Effect.fail(RedisError.invalidArgument(command, `${what} must be a non-negative integer, got ${value}`))
