/**
 * The library consumer's scenarios: draining a backlog with default and
 * tuned options (and the default under an exporting tracer), the memory drain of a large backlog, a drain of three
 * streams by priority, and a self-claim recovery of a dead consumer's
 * pending entries.
 */
import { Deferred, Effect, Exit, Fiber } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as replies from "../src/internal/redis/replies.js"
import * as Redis from "../src/Redis.js"
import { backlogDrain, handle, seed, seedPending, SIBLING, withClient } from "./raw.js"
import type { Ctx, Measured, Scenario } from "./scenario.js"
import { BenchError, promise, timed } from "./scenario.js"

export interface ConsumerOptions {
  /** Handle each read as one batch (`handleBatch`) instead of entry by entry. */
  readonly batch?: boolean
  readonly count?: number
  readonly concurrency?: number
  /** Read these streams by priority instead of `ctx.stream`. */
  readonly streams?: ReadonlyArray<string>
  readonly claim?: Consumer.ClaimOptions
  readonly rateLimit?: Consumer.RateLimitOptions
}

/** Polls XPENDING until the group holds no pending entry on `streams`: a drain is done when it is acked. */
const allAcked = (ctx: Ctx, streams: ReadonlyArray<string> = [ctx.stream]) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const summaries = yield* Effect.forEach(streams, (stream) => Effect.flatMap(redis.send("XPENDING", [stream, ctx.group]), replies.pendingSummary))
      if (summaries.every((summary) => summary.count === 0)) return
      yield* Effect.sleep("1 millis")
    }
    return yield* new BenchError({ message: `${streams.join(", ")}: entries still pending 30 s after all were handled` })
  })

/**
 * Runs one library consumer per name in the group until `ctx.n` entries are
 * handled and acked, then interrupts them. `afterStart` runs once they are
 * forked (the live scenario starts its producer there).
 */
export const consume = <E = never, R = never>(
  ctx: Ctx,
  names: ReadonlyArray<string>,
  options: ConsumerOptions,
  onMessage: (fields: Record<string, string>, stream: string) => void,
  afterStart: Effect.Effect<void, E, R> = Effect.void
) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    let handled = 0
    const handler = (message: Consumer.StreamMessage) =>
      Effect.sync(() => {
        onMessage(message.fields, message.stream)
        if (++handled === ctx.n) Deferred.unsafeDone(done, Exit.void)
      })
    const handleBatch = (messages: ReadonlyArray<Consumer.StreamMessage>) =>
      Effect.sync(() => {
        for (const message of messages) onMessage(message.fields, message.stream)
        handled += messages.length
        if (handled === ctx.n) Deferred.unsafeDone(done, Exit.void)
      })
    const { batch, streams, ...rest } = options
    const source = streams === undefined ? { stream: ctx.stream } : { streams }
    const fibers = yield* Effect.forEach(names, (consumer) =>
      Effect.fork(
        batch === true
          ? Consumer.run({ ...source, group: ctx.group, consumer, handleBatch, ...rest })
          : Consumer.run({ ...source, group: ctx.group, consumer, handler, ...rest })
      ))
    yield* afterStart
    const ended = Effect.zipRight(
      Fiber.joinAll(fibers),
      new BenchError({ message: `the consumers ended after ${handled} of ${ctx.n} entries` })
    )
    yield* Effect.raceFirst(Deferred.await(done), ended)
    yield* allAcked(ctx, streams)
    yield* Fiber.interruptAll(fibers)
    return handled
  })

export const drain = (ctx: Ctx, options: ConsumerOptions): Effect.Effect<Measured, unknown> =>
  timed(consume(ctx, ["consumer/bench/0"], options, handle)).pipe(
    Effect.map(([seconds, handled]) => ({ handled, seconds })),
    Effect.provide(Redis.layer(ctx.url))
  )

const large = { size: { full: 1_000_000, quick: 50_000 } }

const levels = ["high", "mid", "low"] as const
const prioritised = (ctx: Ctx) => levels.map((level) => `${ctx.stream}-${level}`)

/** A third of the backlog on each of three streams, written low first; one group on each. */
const seedThree = (ctx: Ctx) =>
  withClient(ctx.url, (client) =>
    promise("seed three streams", async () => {
      for (const stream of [...prioritised(ctx)].reverse()) {
        await seed(client, stream, Math.ceil(ctx.n / 3))
        await client.call("XGROUP", "CREATE", stream, ctx.group, "0")
      }
    }))

/**
 * Drains the three streams by priority; `inversions` counts entries handled
 * after an entry of a lower stream (0 when every high entry came first, then
 * every mid one).
 */
const priorityDrain = (ctx: Ctx): Effect.Effect<Measured, unknown> => {
  const streams = prioritised(ctx)
  const rank = new Map(streams.map((stream, i) => [stream, i]))
  let lowest = 0
  let inversions = 0
  const onMessage = (fields: Record<string, string>, stream: string) => {
    const level = rank.get(stream) ?? 0
    if (level < lowest) inversions++
    lowest = Math.max(lowest, level)
    handle(fields)
  }
  const third = { ...ctx, n: Math.ceil(ctx.n / 3) * 3 }
  return timed(consume(third, ["consumer/bench/0"], { ...ctx.tuning, streams }, onMessage)).pipe(
    Effect.map(([seconds, handled]) => ({ handled: handled === third.n ? ctx.n : handled, seconds, extra: { inversions } })),
    Effect.provide(Redis.layer(ctx.url))
  )
}

/** The shared limit of the rate-limited drain: entries per second for its three consumers together. */
const RATE = 10_000

/** Three consumers sharing `rateLimit` drain the backlog; `of_limit` is the rate reached over the limit. */
const rateLimitedDrain = (ctx: Ctx): Effect.Effect<Measured, unknown> =>
  timed(consume(ctx, ["consumer/bench/0", "consumer/bench/1", "consumer/bench/2"], {
    rateLimit: { limit: RATE, per: "1 second", burst: 100 }
  }, handle)).pipe(
    Effect.map(([seconds, handled]) => ({
      handled,
      seconds,
      extra: { limit_per_s: RATE, of_limit: Math.round((handled / seconds / RATE) * 100) / 100 }
    })),
    Effect.provide(Redis.layer(ctx.url))
  )

/** A consumer that only self-claims: the dead owner's entries, idle since the setup. */
const selfClaimRecovery = (ctx: Ctx): Effect.Effect<Measured, unknown> =>
  timed(consume(ctx, [SIBLING], { ...ctx.tuning, claim: { idle: 1, count: 1000 } }, handle)).pipe(
    Effect.map(([seconds, handled]) => ({ handled, seconds })),
    Effect.provide(Redis.layer(ctx.url))
  )

/** The consumer scenarios. */
export const scenarios: ReadonlyArray<Scenario> = [
  backlogDrain("drain/library-default", "Consumer.run with default options", (ctx) => drain(ctx, {})),
  backlogDrain("drain/library-tuned", "Consumer.run with the bench's count and concurrency", (ctx) => drain(ctx, ctx.tuning)),
  backlogDrain("drain/library-batch", "Consumer.run with handleBatch and count 1000", (ctx) => drain(ctx, { batch: true, count: 1000 })),
  backlogDrain(
    "drain/library-rate-limited",
    `three consumers sharing rateLimit ${RATE}/s (burst 100): handled/s against the limit`,
    rateLimitedDrain,
    { size: { full: 30_000, quick: 5_000 } }
  ),
  backlogDrain(
    "memory/library-drain",
    "peak RSS of a tuned Consumer.run draining a large backlog",
    (ctx) => drain(ctx, ctx.tuning),
    large
  ),
  backlogDrain(
    "memory/library-drain-capped",
    "the same with the old heap capped at 128 MB: buffering without bound would run out of memory",
    (ctx) => drain(ctx, ctx.tuning),
    { ...large, execArgv: ["--max-old-space-size=128"] }
  ),
  backlogDrain("drain/library-3-streams", "Consumer.run over three streams by priority (a third of the backlog on each)", priorityDrain, {
    setup: seedThree
  }),
  {
    name: "claim/library-self-claim",
    description: "a consumer recovering a dead consumer's pending entries by self-claim alone (XAUTOCLAIM, then its backlog)",
    baseline: undefined,
    size: { full: 100_000, quick: 10_000 },
    setup: seedPending,
    run: selfClaimRecovery
  }
]
