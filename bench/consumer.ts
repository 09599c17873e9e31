/**
 * The library consumer's scenarios: draining a backlog with default and
 * tuned options, and the memory drain of a large backlog.
 */
import { Deferred, Effect, Exit, Fiber } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as replies from "../src/internal/replies.js"
import * as Redis from "../src/Redis.js"
import { backlogDrain, handle } from "./raw.js"
import type { Ctx, Measured, Scenario } from "./scenario.js"
import { BenchError, timed } from "./scenario.js"

interface ConsumerOptions {
  readonly count?: number
  readonly concurrency?: number
}

/** Polls XPENDING until the group holds no pending entry: a drain is done when it is acked. */
const allAcked = (ctx: Ctx) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const summary = yield* Effect.flatMap(redis.send("XPENDING", [ctx.stream, ctx.group]), replies.pendingSummary)
      if (summary.count === 0) return
      yield* Effect.sleep("1 millis")
    }
    return yield* new BenchError({ message: `${ctx.stream}: entries still pending 30 s after all were handled` })
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
  onMessage: (fields: Record<string, string>) => void,
  afterStart: Effect.Effect<void, E, R> = Effect.void
) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    let handled = 0
    const handler = (message: Consumer.StreamMessage) =>
      Effect.sync(() => {
        onMessage(message.fields)
        if (++handled === ctx.n) Deferred.unsafeDone(done, Exit.void)
      })
    const fibers = yield* Effect.forEach(names, (consumer) =>
      Effect.fork(Consumer.run({ stream: ctx.stream, group: ctx.group, consumer, handler, ...options })))
    yield* afterStart
    const ended = Effect.zipRight(
      Fiber.joinAll(fibers),
      new BenchError({ message: `the consumers ended after ${handled} of ${ctx.n} entries` })
    )
    yield* Effect.raceFirst(Deferred.await(done), ended)
    yield* allAcked(ctx)
    yield* Fiber.interruptAll(fibers)
    return handled
  })

const drain = (ctx: Ctx, options: ConsumerOptions): Effect.Effect<Measured, unknown> =>
  timed(consume(ctx, ["consumer/bench/0"], options, handle)).pipe(
    Effect.map(([seconds, handled]) => ({ handled, seconds })),
    Effect.provide(Redis.layer(ctx.url))
  )

const large = { size: { full: 1_000_000, quick: 50_000 } }

/** The consumer scenarios. */
export const scenarios: ReadonlyArray<Scenario> = [
  backlogDrain("drain/library-default", "Consumer.run with default options", (ctx) => drain(ctx, {})),
  backlogDrain("drain/library-tuned", "Consumer.run with the bench's count and concurrency", (ctx) => drain(ctx, ctx.tuning)),
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
  )
]
