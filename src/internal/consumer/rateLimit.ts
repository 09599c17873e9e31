/**
 * A rate limit shared by every consumer of a group, in every process:
 * GCRA (the generic cell rate algorithm) over one hash beside the stream,
 * in its slot, updated by one script on the server's clock. GCRA keeps one
 * number (the theoretical arrival time of the next start), so a grant of
 * several starts at once is one step, and no timer or refill process runs.
 * With `limit` starts per `per`, starts are spaced `per / limit` apart; a
 * quiet limiter lets `burst` start at once. So in any window of length
 * `per`, at most `limit + burst - 1` handlers start.
 *
 * A consumer asks for the starts of a whole batch at once (one round trip
 * per batch, not per entry), starts the granted ones, and waits the time
 * the script says before asking for the rest: no busy loop. A hold
 * (`Consumer.rateLimited`: a downstream said 429) in the same hash grants
 * nothing until it ends.
 */
import { Effect } from "effect"
import type * as Redis from "../../Redis.js"
import type * as RedisError from "../../RedisError.js"
import { beside } from "../redis/keys.js"

/** A validated rate limit: `limit` starts per `per` ms, `burst` at once. */
export interface Settings {
  readonly limit: number
  readonly per: number
  readonly burst: number
}

/** KEYS: the limiter; ARGV: starts wanted, emission interval (ms), tolerance (ms). Returns { granted, wait (ms) }. */
const script = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wanted = tonumber(ARGV[1])
local emission = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local hold = tonumber(redis.call('HGET', KEYS[1], 'hold') or '0')
if hold > now then return {0, math.ceil(hold - now)} end
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
if tat < now then tat = now end
local granted = math.floor((now + tolerance - tat) / emission) + 1
if granted > wanted then granted = wanted end
if granted < 0 then granted = 0 end
if granted > 0 then
  tat = tat + granted * emission
  redis.call('HSET', KEYS[1], 'tat', string.format('%.3f', tat))
  redis.call('PEXPIRE', KEYS[1], math.ceil(tat - now + tolerance) + 1000)
end
local wait = 0
if granted < wanted then wait = math.ceil(math.max(1, tat - tolerance - now)) end
return {granted, wait}
`

/** KEYS: the limiter; ARGV: the hold (ms). Holds every start until then (a later hold wins), on the server's clock. */
const holdScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ends = now + tonumber(ARGV[1])
local hold = tonumber(redis.call('HGET', KEYS[1], 'hold') or '0')
if ends > hold then redis.call('HSET', KEYS[1], 'hold', ends) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[1]) + 1000 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 1000) end
return 1
`

/** Holds every consumer sharing the limiter for `delay` ms (`Consumer.rateLimited`). */
export const hold = (redis: Redis.Service, key: string, delay: number): Effect.Effect<void, RedisError.RedisError> =>
  Effect.asVoid(redis.send("EVAL", [holdScript, 1, key, delay]))

/** The limiter's key for a group, beside its (first) stream; `undefined` when none can share its slot. */
export const keyOf = (stream: string, group: string): string | undefined => beside("ratelimit", stream, group)

/** A grant: how many may start now, and how long to wait before asking for the rest. */
export interface Grant {
  readonly granted: number
  readonly wait: number
}

/** Asks for `wanted` starts. */
export const take = (
  redis: Redis.Service,
  key: string,
  settings: Settings,
  wanted: number
): Effect.Effect<Grant, RedisError.RedisError> => {
  const emission = settings.per / settings.limit
  return Effect.map(
    redis.send("EVAL", [script, 1, key, wanted, emission, (settings.burst - 1) * emission]),
    (reply) => {
      const [granted, wait] = reply as [number, number]
      return { granted: Number(granted), wait: Number(wait) }
    }
  )
}

/**
 * Runs `handle` over `messages` as the limit allows: the granted ones, then
 * after the wait the next grant, until all have started or `stop` says so.
 * A limiter that cannot be reached is retried after a second (its entries
 * wait: a limit that cannot be counted is not skipped).
 */
export const limited = <M, E, R>(
  redis: Redis.Service,
  key: string,
  settings: Settings,
  messages: ReadonlyArray<M>,
  handle: (messages: ReadonlyArray<M>) => Effect.Effect<void, E, R>,
  stop: () => boolean,
  onWait: () => void
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    let from = 0
    while (from < messages.length && !stop()) {
      const grant = yield* take(redis, key, settings, messages.length - from).pipe(
        Effect.catchAll((error) =>
          Effect.as(Effect.logWarning(`rate limiter unreachable (${error.message}); waiting`), { granted: 0, wait: 1_000 })
        )
      )
      if (grant.granted > 0) {
        yield* handle(messages.slice(from, from + grant.granted))
        from += grant.granted
      }
      if (from < messages.length && grant.wait > 0 && !stop()) {
        onWait()
        yield* Effect.sleep(grant.wait)
      }
    }
  })
