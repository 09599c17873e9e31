/**
 * **`internal/gc/`** serves `Gc.ts`, which re-exports its data; this is the
 * folder's main module. Its files:
 * - `settings.ts`: the options of a pass, checked once into `Settings`
 * - `plan.ts`: what happens to each pending entry of a page (pure)
 * - `pass.ts` (this module): the Redis side that carries a plan out
 * - `deadLetters.ts`: listing and redriving the dead-letter stream
 * - `lastErrors.ts`: each failing entry's last error, kept for its letter
 * - `failure.ts`: how a failure is written down, in logs and letters
 * The consumer builds on it (a hopeless entry is dead-lettered by the same
 * script); it builds on `Groups.ts` and `internal/redis/`.
 *
 * The Redis side of a gc pass: the pending list and consumers it reads, the
 * atomic dead-letter script and the claims that carry out a page's plan, the
 * deregistration of idle consumers, and the pass's metrics.
 */
import { Effect, Metric } from "effect"
import * as Groups from "../../Groups.js"
import * as Redis from "../../Redis.js"
import type * as RedisError from "../../RedisError.js"
import type { GcAction, Plan } from "./plan.js"
import type { Settings } from "./settings.js"
import { overDeliveries } from "./settings.js"
import * as LastErrors from "./lastErrors.js"
import * as Replies from "../redis/replies.js"

const actionsCounter = Metric.counter("effect_redis_streams_gc_actions", {
  description: "Pending entries and consumers acted on by Gc.collect, by action",
  incremental: true
})

export const passTimer = Metric.timerWithBoundaries("effect_redis_streams_gc_pass_duration", [10, 50, 100, 500, 1_000, 5_000, 30_000])

export const consumersOf = (stream: string, group: string) =>
  Effect.flatMap(Redis.Redis, (redis) => redis.send("XINFO", ["CONSUMERS", stream, group])).pipe(
    Effect.flatMap(Replies.consumerInfos)
  )

/**
 * The most arguments a script can pass to one `redis.call` (Lua 5.1's
 * `unpack` stops at its C stack of 8 000 slots): an entry wider than this
 * is moved by the client in two steps instead, writing before deleting.
 */
export const maxScriptArgs = 7_900

/**
 * The second step of moving a wide entry to the dead-letter stream, after
 * the letter was written (KEYS: stream, dlq, errors; ARGV: group, id,
 * consumer, idle, deliveries, letter id): acks the entry if it is still as
 * XPENDING saw it (and forgets its last error), and otherwise deletes the
 * letter just written. Returns 1 when the entry was moved.
 */
const confirmWideScript = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1]
if p and p[2] == ARGV[3] and p[3] >= tonumber(ARGV[4]) and p[4] == tonumber(ARGV[5]) then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
redis.call('XDEL', KEYS[2], ARGV[6])
return 0`

/** An entry to dead-letter: as XPENDING saw it, why, and the failure the caller knows of (else the one recorded). */
export interface Doomed extends Replies.PendingEntry {
  readonly reason: Replies.DeadLetterReason
  readonly failure?: unknown
}

/** The hash of last errors of `stream`, or the stream itself (never written) when none can share its slot. */
const errorsKeyOf = (stream: string) => LastErrors.keyOf(stream) ?? stream

/**
 * Dead-letters an entry too wide for the script: its fields and last error
 * read, the letter written, then the entry acked only if it is still as
 * XPENDING saw it (else the letter is deleted). A failure between the steps
 * leaves the entry pending with its letter written: at worst a second
 * letter, never a lost entry.
 */
const deadLetterWide = (sender: Redis.Sender, target: DeadLetterTarget, entry: Doomed) =>
  Effect.gen(function*() {
    const { dlq, group, stream } = target
    const errors = errorsKeyOf(stream)
    const found = yield* Effect.flatMap(sender.send("XRANGE", [stream, entry.id, entry.id]), (reply) => Replies.entries("XRANGE", reply))
    const recorded = errors === stream ? null : yield* sender.send("HGET", [errors, entry.id])
    const fields = found[0]?.fields
    const error = "failure" in entry ? LastErrors.encode(entry.failure) : typeof recorded === "string" ? recorded : ""
    const letter = yield* sender.send("XADD", [
      dlq, "*", ...letterMeta(target, entry, error),
      ...(fields === null || fields === undefined || !target.includeMessage ? [] : Object.entries(fields).flat())
    ])
    const moved = yield* sender.send("EVAL", [
      confirmWideScript, 3, stream, dlq, errors, group, entry.id, entry.consumer, entry.idle, entry.deliveries, String(letter)
    ])
    return Number(moved) === 1
  })

/** A letter's metadata, in {@link Replies.letterKeys}'s order. */
const letterMeta = (target: DeadLetterTarget, entry: Doomed, error: string): ReadonlyArray<Redis.Arg> => {
  const values = [target.stream, target.group, entry.consumer, entry.id, entry.idle, entry.deliveries, entry.reason, error]
  return Replies.letterKeys.flatMap((key, i) => [key, values[i]!])
}

/**
 * Dead-letters a page of entries atomically per entry: an entry is written to
 * the dead-letter stream and acked only if it is still pending for the same
 * consumer, not delivered again and not touched since XPENDING saw it (idle
 * not reset); otherwise it is skipped. The letter holds its metadata first
 * (namespaced: `Replies.letterKeys`), with its reason and its last error
 * (the one given, else the one recorded in the hash of last errors, which
 * it then drops), then the message's fields. Returns the ids dead-lettered,
 * and those too wide for one call from Lua (see {@link maxScriptArgs}),
 * which {@link deadLetterWide} moves.
 *
 * KEYS: stream, dlq, errors. ARGV: group, include, then per entry id,
 * consumer, idle, deliveries, reason, error (JSON, or "" for the recorded one).
 */
const dlqScript = `
local stream, dlq, errors, group, include = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2] == '1'
local keep = errors ~= stream
local t = redis.call('TYPE', dlq)['ok']
if t ~= 'none' and t ~= 'stream' then return redis.error_reply('WRONGTYPE the dead-letter key ' .. dlq .. ' is not a stream') end
local payloads = {}
if include and #ARGV > 2 then
  -- a page's entries are mostly contiguous in the stream: read their payloads in one bounded range
  for _, e in ipairs(redis.call('XRANGE', stream, ARGV[3], ARGV[#ARGV - 5], 'COUNT', (#ARGV - 2) / 6)) do payloads[e[1]] = e[2] end
end
local done, wide, maxArgs = {}, {}, ${maxScriptArgs}
for i = 3, #ARGV, 6 do
  local id, consumer = ARGV[i], ARGV[i + 1]
  local p = redis.call('XPENDING', stream, group, id, id, 1)[1]
  if p and p[2] == consumer and p[3] >= tonumber(ARGV[i + 2]) and p[4] == tonumber(ARGV[i + 3]) then
    local err = ARGV[i + 5]
    if err == '' and keep then err = redis.call('HGET', errors, id) or '' end
    local entry = { 'XADD', dlq, '*', 'dlq:stream', stream, 'dlq:group', group, 'dlq:consumer', consumer, 'dlq:id', id,
      'dlq:idle', p[3], 'dlq:deliveries', p[4], 'dlq:reason', ARGV[i + 4], 'dlq:error', err }
    if include then
      local fields = payloads[id]
      if fields == nil then
        local found = redis.call('XRANGE', stream, id, id)[1]
        fields = found and found[2] or {}
      end
      for _, v in ipairs(fields) do entry[#entry + 1] = v end
    end
    if #entry > maxArgs then
      wide[#wide + 1] = id
    else
      redis.call(unpack(entry))
      redis.call('XACK', stream, group, id)
      if keep then redis.call('HDEL', errors, id) end
      done[#done + 1] = id
    end
  end
end
return { done, wide }`

/** Where and how entries are dead-lettered. */
export interface DeadLetterTarget {
  readonly stream: string
  readonly group: string
  readonly dlq: string
  readonly includeMessage: boolean
}

/**
 * One warning per dead-lettering, naming the entry and its reason; a page
 * of several (a gc pass) in one line per reason that names every entry, so
 * a pass that moves 100 000 entries writes a line per page, not 100 000.
 */
const logMoved = (target: DeadLetterTarget, moved: ReadonlyArray<Doomed>) => {
  if (moved.length === 1) {
    const [entry] = moved
    return Effect.logWarning(`${entry!.id} of ${target.stream} dead-lettered to ${target.dlq} (${entry!.reason}, after ${entry!.deliveries} deliveries)`)
  }
  const byReason = new Map<string, Array<string>>()
  for (const entry of moved) {
    const ids = byReason.get(entry.reason)
    if (ids === undefined) byReason.set(entry.reason, [entry.id])
    else ids.push(entry.id)
  }
  return Effect.forEach(byReason, ([reason, ids]) =>
    Effect.logWarning(`${ids.length} entries of ${target.stream} dead-lettered to ${target.dlq} (${reason}): ${ids.join(", ")}`), { discard: true })
}

/**
 * Moves entries to the dead-letter stream with {@link dlqScript} (each only
 * if still as XPENDING saw it), through `sender`; returns the ids moved,
 * each logged at warning level with its reason. Gc's pass and the
 * consumer's own dead-lettering (self-claim, retries that ran out, decode
 * failures) share it.
 */
export const deadLetter = (
  sender: Redis.Sender,
  target: DeadLetterTarget,
  entries: ReadonlyArray<Doomed>
): Effect.Effect<ReadonlySet<string>, RedisError.RedisError> => {
  if (entries.length === 0) return Effect.succeed(new Set<string>())
  const args: Array<Redis.Arg> = [dlqScript, 3, target.stream, target.dlq, errorsKeyOf(target.stream), target.group, target.includeMessage ? "1" : "0"]
  for (const e of entries) args.push(e.id, e.consumer, e.idle, e.deliveries, e.reason, "failure" in e ? LastErrors.encode(e.failure) : "")
  return Effect.gen(function*() {
    const reply = yield* sender.send("EVAL", args)
    const [done, wide] = Array.isArray(reply) ? reply : []
    const moved = new Set(yield* Replies.ids("EVAL", done))
    for (const id of yield* Replies.ids("EVAL", wide)) {
      const entry = entries.find((e) => e.id === id)!
      if (yield* deadLetterWide(sender, target, entry)) moved.add(id)
    }
    yield* logMoved(target, entries.filter((entry) => moved.has(entry.id)))
    return moved
  })
}

const deadLetterPage = (settings: Settings, entries: ReadonlyArray<Replies.PendingEntry>) => {
  const { dlq, group, stream } = settings
  return dlq === false
    ? Effect.succeed(new Set<string>())
    : Effect.flatMap(Redis.Redis, (redis) =>
      deadLetter(
        redis,
        { stream, group, dlq: dlq.stream, includeMessage: dlq.includeMessage },
        entries.map((entry) => ({ ...entry, reason: overDeliveries(dlq, entry) ? "Deliveries" : "Idle" }))
      ))
}

/**
 * Claims entries for one claimant in one XCLAIM. The min-idle-time is the
 * lowest idle time XPENDING reported for them, so an entry read, claimed or
 * acked since then is skipped rather than taken twice.
 */
const claim = (settings: Settings, claimant: string, entries: ReadonlyArray<Replies.PendingEntry>) => {
  let minIdle = Infinity
  for (const e of entries) minIdle = Math.min(minIdle, e.idle)
  return Effect.flatMap(Redis.Redis, (redis) =>
    redis.send("XCLAIM", [settings.stream, settings.group, claimant, minIdle, ...entries.map((e) => e.id), "JUSTID"])).pipe(
      Effect.flatMap((reply) => Replies.ids("XCLAIM", reply))
    )
}

/** Carries out a page's plan (dead letters first, then claims) and returns what was done, in entry order. */
export const runPage = (settings: Settings, plans: ReadonlyArray<Plan>) =>
  Effect.gen(function*() {
    if (settings.dryRun) return plans
    const dead = yield* deadLetterPage(settings, plans.filter((p) => p.action === "Dlq").map((p) => p.entry))
    const byClaimant = new Map<string, Array<Replies.PendingEntry>>()
    for (const p of plans) {
      if (p.action !== "Rebalance") continue
      const entries = byClaimant.get(p.claimant!)
      if (entries === undefined) byClaimant.set(p.claimant!, [p.entry])
      else entries.push(p.entry)
    }
    const claimed = new Set<string>()
    for (const [claimant, entries] of byClaimant) {
      for (const id of yield* claim(settings, claimant, entries)) claimed.add(id)
    }
    return plans.map((p): Plan =>
      (p.action === "Dlq" && !dead.has(p.entry.id)) || (p.action === "Rebalance" && !claimed.has(p.entry.id))
        ? { entry: p.entry, action: "Noop" }
        : p
    )
  })

/**
 * Removes consumers idle past `deregister.idle` that hold no pending entry
 * (`Groups.deregisterIdle`: checked and done atomically on the server). A dry
 * run predicts it from the consumers seen at the start and the pending counts
 * the planned actions leave.
 */
export const deregisterIdle = (settings: Settings, consumers: ReadonlyArray<Replies.ConsumerInfo>, pending: Map<string, number>) => {
  if (settings.deregister === false) return Effect.succeed([])
  const idle = settings.deregister
  return settings.dryRun
    ? Effect.succeed(consumers.filter((c) => c.idle > idle && (pending.get(c.name) ?? 0) <= 0).map((c) => c.name))
    : Groups.deregisterIdle(settings.stream, settings.group, idle)
}

export const record = (actions: ReadonlyArray<GcAction>) => {
  const counts = new Map<string, number>()
  for (const action of actions) counts.set(action._tag, (counts.get(action._tag) ?? 0) + 1)
  return Effect.forEach(counts, ([tag, n]) => Metric.incrementBy(Metric.tagged(actionsCounter, "action", tag), n), { discard: true })
}

