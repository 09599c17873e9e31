/**
 * Stream entry ids (`<ms>-<seq>`, both unsigned 64-bit), with arbitrary
 * precision arithmetic.
 *
 * The pure helpers (`next`, `prev`, `compare`, `parse`) throw a `RedisError`
 * (reason `InvalidArgument`) on a malformed id; `parseEither` and `validate`
 * return it as an `Either` / a failed `Effect` instead.
 *
 * @since 0.1.0
 */
import { Effect, Either } from "effect"
import * as RedisError from "./RedisError.js"

const MAX = (1n << 64n) - 1n
const pattern = /^(\d{1,20})(?:-(\d{1,20}))?$/

/**
 * A parsed id.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parsed {
  readonly ms: bigint
  readonly seq: bigint
}

/**
 * Parses `"ms-seq"` or `"ms"` (sequence 0), as an `Either`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseEither = (id: string): Either.Either<Parsed, RedisError.RedisError> => {
  const match = pattern.exec(id)
  if (match !== null) {
    const ms = BigInt(match[1]!)
    const seq = BigInt(match[2] ?? "0")
    if (ms <= MAX && seq <= MAX) return Either.right({ ms, seq })
  }
  return Either.left(RedisError.invalidArgument("MessageId", `invalid stream id ${JSON.stringify(id)}`))
}

/**
 * Parses an id; throws `RedisError` (`InvalidArgument`) when malformed.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (id: string): Parsed => Either.getOrThrowWith(parseEither(id), (error) => error)

/**
 * Formats a parsed id.
 *
 * @since 0.1.0
 * @category parsing
 */
export const format = ({ ms, seq }: Parsed): string => `${ms}-${seq}`

/**
 * Succeeds with the id when well formed, else fails with `RedisError` (`InvalidArgument`).
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (id: string): Effect.Effect<string, RedisError.RedisError> =>
  Either.match(parseEither(id), { onLeft: Effect.fail, onRight: () => Effect.succeed(id) })

/**
 * The next smallest id: `next("0-1")` is `"0-2"`, `next("123")` is `"123-1"`,
 * and a sequence at its maximum rolls over to the next millisecond.
 * Throws on a malformed id or on the largest id.
 *
 * @since 0.1.0
 * @category arithmetic
 */
export const next = (id: string): string => {
  const { ms, seq } = parse(id)
  if (seq < MAX) return format({ ms, seq: seq + 1n })
  if (ms < MAX) return format({ ms: ms + 1n, seq: 0n })
  throw RedisError.invalidArgument("MessageId", `${id} is the largest id`)
}

/**
 * The previous largest id: `prev("5-0")` is `"4-18446744073709551615"`.
 * Throws on a malformed id or on `"0-0"`.
 *
 * @since 0.1.0
 * @category arithmetic
 */
export const prev = (id: string): string => {
  const { ms, seq } = parse(id)
  if (seq > 0n) return format({ ms, seq: seq - 1n })
  if (ms > 0n) return format({ ms: ms - 1n, seq: MAX })
  throw RedisError.invalidArgument("MessageId", `${id} is the smallest id`)
}

/**
 * Orders two ids: -1, 0 or 1. Throws on a malformed id.
 *
 * @since 0.1.0
 * @category ordering
 */
export const compare = (a: string, b: string): -1 | 0 | 1 => {
  const x = parse(a)
  const y = parse(b)
  if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1
  if (x.seq !== y.seq) return x.seq < y.seq ? -1 : 1
  return 0
}
