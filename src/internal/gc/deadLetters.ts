/**
 * The dead-letter stream: listing its entries (`Gc.deadLetters`) and putting
 * them back on their origin streams (`Gc.redrive`, with its atomic script).
 * `Gc` re-exports all of it.
 */
import { Effect } from "effect"
import * as Redis from "../../Redis.js"
import * as RedisError from "../../RedisError.js"
import { maxScriptArgs } from "./pass.js"
import { sameSlot } from "./settings.js"
import * as Replies from "../redis/replies.js"

/**
 * An entry of a dead-letter stream, parsed.
 *
 * @since 0.1.0
 * @category models
 */
export type DeadLetter = Replies.DeadLetter

/**
 * Which dead letters `Gc.deadLetters` lists and `Gc.redrive` replays.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetterOptions {
  /** Only those that came from this stream. */
  readonly stream?: string | undefined
  /** Only those that came from this group. */
  readonly group?: string | undefined
  /** At most this many. */
  readonly count?: number | undefined
}

/**
 * A dead letter put back on its origin stream by `Gc.redrive`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Redriven extends Replies.DeadLetter {
  /** The id of the new entry on the origin stream. */
  readonly redrivenId: string
}

const matches = (options: DeadLetterOptions) => (letter: DeadLetter) =>
  (options.stream === undefined || letter.stream === options.stream) &&
  (options.group === undefined || letter.group === options.group)

/** Walks the dead-letter stream in pages, handing each page's matching letters (up to `count` in all) to `f`. */
const eachPage = <A>(
  command: string,
  dlqStream: string,
  options: DeadLetterOptions,
  f: (letters: ReadonlyArray<DeadLetter>) => Effect.Effect<ReadonlyArray<A>, RedisError.RedisError, Redis.Redis>
) =>
  Effect.gen(function*() {
    yield* Redis.validateName(command, "dead-letter stream", dlqStream)
    const limit = options.count ?? Infinity
    if (!(limit >= 0 && (Number.isInteger(limit) || limit === Infinity))) {
      return yield* Effect.fail(RedisError.invalidArgument(command, `count must be a non-negative integer, got ${limit}`))
    }
    const redis = yield* Redis.Redis
    const out: Array<A> = []
    let start = "-"
    while (out.length < limit) {
      const page = yield* Effect.flatMap(redis.send("XRANGE", [dlqStream, start, "+", "COUNT", 1000]), Replies.deadLetters)
      for (const item of yield* f(page.letters.filter(matches(options)).slice(0, limit - out.length))) out.push(item)
      if (page.size < 1000 || page.lastId === null) break
      start = `(${page.lastId}`
    }
    return out
  })

/**
 * The entries of a dead-letter stream, parsed, oldest first (filtered by
 * origin `stream`/`group`, at most `count`). A missing stream has none;
 * entries not written by `Gc.collect` are skipped.
 *
 * @since 0.1.0
 * @category dead letters
 */
export const deadLetters = (
  dlqStream: string,
  options: DeadLetterOptions = {}
): Effect.Effect<ReadonlyArray<DeadLetter>, RedisError.RedisError, Redis.Redis> =>
  eachPage("Gc.deadLetters", dlqStream, options, Effect.succeed).pipe(Effect.withSpan("Gc.deadLetters"))

/**
 * For each letter (ARGV: dlqId, field count, fields…) still in the
 * dead-letter stream, adds the entry to its origin stream, then deletes the
 * letter, in one atomic step: a write that fails deletes nothing. Never
 * creates the origin stream; skips a letter already deleted (redriven by
 * someone else). Returns `[dlqId, newId, …]`.
 */
const redriveScript = `
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return redis.error_reply('ERR no such key: the origin stream ' .. KEYS[1] .. ' does not exist') end
if t ~= 'stream' then return redis.error_reply('WRONGTYPE the origin ' .. KEYS[1] .. ' is not a stream') end
local out, i = {}, 1
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  if #redis.call('XRANGE', KEYS[2], ARGV[i], ARGV[i]) == 1 then
    local newId = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 2, i + 1 + n))
    redis.call('XDEL', KEYS[2], ARGV[i])
    out[#out + 1] = ARGV[i]
    out[#out + 1] = newId
  end
  i = i + 2 + n
end
return out`

/**
 * The second step of redriving a letter too wide for the script, after its
 * entry was added to the origin stream (KEYS: dlq, origin; ARGV: dlqId,
 * newId): deletes the letter, or, when someone else redrove it meanwhile,
 * the entry just added. Returns 1 when the letter was redriven.
 */
const confirmWideRedrive = `
if redis.call('XDEL', KEYS[1], ARGV[1]) == 1 then return 1 end
redis.call('XDEL', KEYS[2], ARGV[2])
return 0`

/** Redrives one letter too wide for the script: written to its origin first, then deleted. */
const redriveWide = (dlqStream: string, letter: DeadLetter, kvs: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const newId = String(yield* redis.send("XADD", [letter.stream, "*", ...kvs]))
    const done = yield* redis.send("EVAL", [confirmWideRedrive, 2, dlqStream, letter.stream, letter.dlqId, newId])
    return Number(done) === 1 ? newId : undefined
  })

const requireStreams = (dlqStream: string, letters: ReadonlyArray<DeadLetter>) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    for (const origin of new Set(letters.map((l) => l.stream))) {
      yield* sameSlot("Gc.redrive", origin, dlqStream)
      const type = yield* redis.send("TYPE", [origin])
      if (type === "stream") continue
      return yield* new RedisError.RedisError({
        reason: type === "none" ? "NoSuchKey" : "WrongType",
        command: "Gc.redrive",
        message: type === "none"
          ? `cannot redrive to ${JSON.stringify(origin)}: the stream does not exist (redrive never recreates a stream, ` +
            `its groups would be gone); recreate it with Groups.create, or leave its letters out with options.stream`
          : `cannot redrive to ${JSON.stringify(origin)}: the key is not a stream`
      })
    }
  })

const redrivePage = (dlqStream: string) => (letters: ReadonlyArray<DeadLetter>) =>
  Effect.gen(function*() {
    const withFields = letters.filter((l) => l.fields !== null)
    if (withFields.length < letters.length) {
      yield* Effect.logWarning(`${letters.length - withFields.length} dead letters have no message to redrive (written with includeMessage: false, or trimmed); they are left in the dead-letter stream`)
    }
    yield* requireStreams(dlqStream, withFields)
    const byOrigin = new Map<string, Array<Redis.Arg>>()
    const wide: Array<readonly [DeadLetter, ReadonlyArray<string>]> = []
    for (const letter of withFields) {
      const kvs = Object.entries(letter.fields!).flat()
      if (kvs.length > maxScriptArgs) {
        wide.push([letter, kvs])
        continue
      }
      const args = byOrigin.get(letter.stream) ?? [redriveScript, 2, letter.stream, dlqStream]
      args.push(letter.dlqId, kvs.length, ...kvs)
      byOrigin.set(letter.stream, args)
    }
    const redis = yield* Redis.Redis
    const replies = yield* redis.pipeline([...byOrigin.values()].map((args): Redis.Command => ["EVAL", args]))
    const newIds = new Map<string, string>()
    for (const reply of replies) {
      const pairs = yield* Replies.ids("EVAL", reply)
      for (let i = 0; i + 1 < pairs.length; i += 2) newIds.set(pairs[i]!, pairs[i + 1]!)
    }
    for (const [letter, kvs] of wide) {
      const newId = yield* redriveWide(dlqStream, letter, kvs)
      if (newId !== undefined) newIds.set(letter.dlqId, newId)
    }
    const out: Array<Redriven> = []
    for (const letter of withFields) {
      const redrivenId = newIds.get(letter.dlqId)
      if (redrivenId !== undefined) out.push({ ...letter, redrivenId })
    }
    return out
  })

/**
 * Puts dead letters back on their origin stream (as new entries, so the
 * groups of that stream deliver them again) and deletes them from the
 * dead-letter stream, atomically per entry; oldest first, filtered by origin
 * `stream`/`group`, at most `count`. Letters written without their message
 * are left where they are.
 *
 * A missing origin stream is never recreated: the redrive fails with reason
 * `NoSuchKey` before moving any letter of the page that holds it. On a Redis
 * Cluster the origin and the dead-letter stream must share a slot (reason
 * `CrossSlot` otherwise).
 *
 * @since 0.1.0
 * @category dead letters
 */
export const redrive = (
  dlqStream: string,
  options: DeadLetterOptions = {}
): Effect.Effect<ReadonlyArray<Redriven>, RedisError.RedisError, Redis.Redis> =>
  eachPage("Gc.redrive", dlqStream, options, redrivePage(dlqStream)).pipe(
    Effect.withSpan("Gc.redrive"),
    Effect.annotateLogs({ module: "Gc", dlq: dlqStream })
  )
