/**
 * **`internal/consumer/`** serves `Consumer.ts`, which re-exports its data;
 * this is the folder's main module. Its files, in the order a read goes
 * through them:
 * - `data.ts`: the message the handler gets, `Control` and `ControlEvent`
 * - `reads.ts`: the reads of the group on the dedicated connection, decoded
 *   straight into messages
 * - `next.ts`: which read comes next, a pure transition (unit-tested whole)
 * - `retry.ts`: a failed entry's backoff, from its delivery count alone
 * - `metrics.ts`: counters per batch, the handler timer per entry
 * - `health.ts`: the consumers running in this process, for health checks
 * - `rateLimit.ts`: the rate limit a group's consumers share, in Redis
 * - `loop.ts` (this module): the state machine that runs them
 * It builds on `internal/gc/` (dead-lettering, last errors) and
 * `internal/redis/`; nothing below it imports from here.
 *
 * The consumer's loop: a state machine over reads of its dedicated
 * connection (`reads.ts`), written for throughput.
 *
 * - Reads happen in forked fibers: while a batch is handled the next one is
 *   already read (without BLOCK), and the acks of the previous batch go in
 *   the same write, ahead of it (one XACK per stream per batch, pipelined).
 *   Acks that wait longer than a second for a read (behind a slow batch) are
 *   sent on their own, so a hung handler holds its entry, not its batch.
 *   Everything the loop waits on (reads, reconnect delays) is such a fiber,
 *   so a graceful stop interrupts only that fiber, never a handler.
 * - The reads, in order: own pending entries (from the start), then new
 *   entries (not blocking), read ahead while a batch is handled, then, when
 *   there are none, one blocking read; when it comes back empty, the backlog
 *   again. With `claim`, whenever there is nothing new (before blocking, and
 *   after an empty blocking read), a self-claim step at most every
 *   `claim.every` (one cut short at `claim.count` goes on at once), followed
 *   by the backlog, which holds what it claimed. With `retry`, a failed entry's
 *   backoff ends at a time the loop keeps: a blocking read waits no longer
 *   than that, and once it has passed the backlog is read after the batch in
 *   hand. The choice is `next.ts`'s: no read that can return an entry
 *   of the batch in hand runs while it is handled.
 * - Per entry there is one span (when a tracer that exports is installed),
 *   one control call (skipped for `Handled` under the default control), one
 *   timer sample and plain array/counter updates; counters are written per
 *   batch (see `metrics.ts`). Handled in order, entries make no
 *   closures of their own.
 * - A watchdog fiber interrupts a read still in flight a grace period past
 *   its block time, which drops the connection: a socket that went silent
 *   without closing (ioredis would wait on it forever) is then retried like
 *   any lost connection.
 */
import type { Tracer } from "effect"
import { Cause, Duration, Effect, Exit, Fiber, Option, Schedule } from "effect"
import * as Redis from "../../Redis.js"
import * as RedisError from "../../RedisError.js"
import type { ConsumerContext, Control, StreamMessage } from "./data.js"
import { ControlEvent, defaultControl, PartialFailure, RateLimited } from "./data.js"
import * as Health from "./health.js"
import * as Metrics from "./metrics.js"
import * as RateLimit from "./rateLimit.js"
import type { Batch, Read, ReadSettings, ReadState, Trips } from "./reads.js"
import { reads } from "./reads.js"
import * as Next from "./next.js"
import { deadLetter } from "../gc/pass.js"
import * as LastErrors from "../gc/lastErrors.js"
import * as Delayed from "../redis/delayed.js"
import * as Keys from "../redis/keys.js"
import * as Trace from "../redis/trace.js"
import { describeFailure } from "../gc/failure.js"

/** How long past its block time a read may take before its connection is presumed dead. */
export const replyGrace = 3_000

/** How often acks waiting for a read (behind a slow batch) are looked at: they are sent within two ticks. */
const ackFlushEvery = 500

/** The consumer's settings, validated. */
export interface LoopSettings<A, E, R, EC, RC> extends Omit<ReadSettings, "group" | "consumer"> {
  /** `stream` is the highest-priority stream. */
  readonly context: ConsumerContext
  readonly concurrency: number
  readonly heartbeat: number | undefined
  readonly reconnect: Schedule.Schedule<unknown, RedisError.RedisError>
  readonly interruptHandlers: boolean
  readonly shutdownTimeout: number
  /** How an entry's span relates to the producer's span it carries; `undefined`: not at all. */
  readonly traceMode: "link" | "parent" | undefined
  readonly handling: Handling<A, E, R>
  /** Of a handler's failure: why it can never succeed (then it is dead-lettered at once, to `hopelessDeadLetter`), or `undefined`. */
  /** The group's shared rate limit (`rateLimit`), and its key. */
  readonly rateLimit: { readonly key: string; readonly settings: RateLimit.Settings } | undefined
  readonly hopeless: (failure: unknown) => "NotRetryable" | "DecodeFailed" | undefined
  readonly hopelessDeadLetter: { readonly dlq: (stream: string) => string; readonly includeMessage: boolean }
  readonly control: (event: ControlEvent<A, E>) => Effect.Effect<Control, EC, RC>
}

/**
 * How entries are handled: one at a time by `handler` (`concurrency` of
 * them at once), or a whole batch by `handleBatch`.
 */
export type Handling<A, E, R> =
  | { readonly _tag: "Each"; readonly handle: (message: StreamMessage) => Effect.Effect<A, E, R> }
  | {
    readonly _tag: "Batch"
    readonly handle: (messages: ReadonlyArray<StreamMessage>) => Effect.Effect<A | PartialFailure<E>, E, R>
  }

/** The commands that carry queued acks: `xacks` XACKs first, then what goes with them. */
interface AckCommands {
  readonly commands: ReadonlyArray<Redis.Command>
  readonly xacks: number
}

/** What a read fiber ends with: it never fails. `paused`: the read found the group paused (`Groups.pause`). */
type Outcome =
  | { readonly _tag: "Read"; readonly read: Read; readonly batch: Batch; readonly paused: boolean }
  | { readonly _tag: "Failed"; readonly error: RedisError.RedisError; readonly retry: boolean }

const silent = (block: number) =>
  new RedisError.RedisError({
    reason: "Connection",
    command: "XREADGROUP",
    message: `no reply within the block time (${block} ms) + ${replyGrace} ms: connection presumed dead`
  })

/**
 * Interrupts a read that is overdue (which drops its connection): a socket
 * that went silent without closing would otherwise hold the consumer
 * forever. One fiber per consumer, instead of a timer per read.
 */
const watchdog = (state: State) =>
  Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(1_000)
      if (state.deadline !== undefined && Date.now() > state.deadline && state.inflight !== undefined) {
        yield* Fiber.interrupt(state.inflight)
      }
    }
  })

/** Runs the consumer: the loop in a fiber of its own, stopped gracefully when this fiber is interrupted. */
export const run = <A, E, R, EC, RC>(
  config: LoopSettings<A, E, R, EC, RC>
): Effect.Effect<A, RedisError.RedisError | E | EC, R | RC | Redis.Redis> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const state = new State(config.streams.length)
      // A daemon: a child fiber would be interrupted along with this one,
      // handler and all; this fiber awaits it in every case instead.
      const fiber = yield* Effect.forkDaemon(restore(Effect.scoped(loop(config, state))))
      return yield* restore(Fiber.join(fiber)).pipe(
        Effect.onInterrupt(() =>
          config.interruptHandlers ? Fiber.interrupt(fiber) : Effect.suspend(() => {
            state.stopping = true
            const stopRead = state.inflight === undefined ? Effect.void : Fiber.interrupt(state.inflight)
            return Effect.zipRight(stopRead, drain(fiber, config.shutdownTimeout))
          })
        )
      )
    })
  )

/**
 * Waits for the running handlers of a stopping consumer, for up to
 * `deadline` ms; then interrupts them (their entries stay pending, those
 * handled are acked by the loop's finalizer).
 */
const drain = (fiber: Fiber.RuntimeFiber<unknown, unknown>, deadline: number) =>
  Fiber.await(fiber).pipe(
    // a finalizer runs uninterruptibly: the wait itself must be interruptible for the deadline to end it
    Effect.interruptible,
    Effect.timeout(deadline),
    Effect.catchTag("TimeoutException", () =>
      Effect.zipRight(
        Effect.logWarning(`handlers still running ${deadline} ms after the stop: interrupted, their entries stay pending`),
        Fiber.interrupt(fiber)
      ))
  )

class State implements ReadState {
  /** Set when the consumer is interrupted: no new handler starts, no new read. */
  stopping = false
  /** The read (or reconnect delay and read) the loop is waiting on or reading ahead. */
  inflight: Fiber.RuntimeFiber<Outcome> | undefined = undefined
  /** Ids handled (or found trimmed) whose XACK is not confirmed yet, by stream. */
  unacked = new Map<string, Array<string>>()
  /**
   * Ids delivered to this consumer and not settled yet, by stream, for the
   * heartbeat: those of the batch being handled and of the batch read ahead
   * (which waits as long as the current one takes).
   */
  readonly held = new Map<string, Set<string>>()
  /** When the read in flight is overdue (epoch ms), if one is in flight. */
  deadline: number | undefined = undefined
  /** The event whose control returned `Exit`. */
  exit: ControlEvent<unknown, unknown> | undefined = undefined
  retryAt: number | undefined = undefined
  /** When the streams' due delayed entries are next moved in (epoch ms); `Infinity` when no stream can hold any. */
  promoteAt = 0
  /** Until when (epoch ms) a handler's `rateLimited` holds this consumer: no handler starts before. */
  holdUntil: number | undefined = undefined
  claimCursors: Array<string>
  claimedNow = new Set<string>()
  readonly retryDue = new Map<string, number>()
  /** When a self-claim step may run next (epoch ms). */
  nextClaimAt = 0

  constructor(streams: number) {
    this.claimCursors = Array.from({ length: streams }, () => "0-0")
  }

  queueAck(stream: string, id: string) {
    let ids = this.unacked.get(stream)
    if (ids === undefined) {
      ids = []
      this.unacked.set(stream, ids)
    }
    ids.push(id)
  }

  /**
   * Ids handled after an earlier delivery, by stream, whose recorded last
   * error is dropped with the next acks (best effort: one not sent expires
   * with its hash).
   */
  forgets = new Map<string, Array<string>>()

  queueForget(stream: string, id: string) {
    const ids = this.forgets.get(stream)
    if (ids === undefined) this.forgets.set(stream, [id])
    else ids.push(id)
  }

  takeForgets(): Map<string, Array<string>> {
    const taken = this.forgets
    this.forgets = new Map()
    return taken
  }

  /** Takes the queued acks (put back with {@link requeue} when they could not be sent). */
  takeAcks(): Map<string, Array<string>> {
    const taken = this.unacked
    this.unacked = new Map()
    return taken
  }

  requeue(acks: Map<string, Array<string>>) {
    for (const [stream, ids] of this.unacked) acks.set(stream, [...(acks.get(stream) ?? []), ...ids])
    this.unacked = acks
  }

  hold(message: StreamMessage) {
    const ids = this.held.get(message.stream)
    if (ids === undefined) this.held.set(message.stream, new Set([message.id]))
    else ids.add(message.id)
  }

  release(message: StreamMessage) {
    this.held.get(message.stream)?.delete(message.id)
  }
}

const loop = <A, E, R, EC, RC>(config: LoopSettings<A, E, R, EC, RC>, state: State) =>
  Effect.gen(function*() {
    const { block, context, streams } = config
    const { consumer, group } = context
    const redis = yield* Redis.Redis
    const connection = yield* redis.dedicated(consumer)
    const live = yield* Health.register(streams, group, consumer)
    const metrics = yield* Metrics.recorder(streams.join(","), group)
    const driver = yield* Schedule.driver(config.reconnect)
    const tracing = yield* Trace.exporting
    const handleBatch = batchHandler(config, state, metrics, tracing, redis)
    const reader = reads({ ...config, group, consumer }, state)
    if (config.heartbeat !== undefined) yield* Effect.forkScoped(heartbeat(redis, context, config.heartbeat, state))
    yield* Effect.forkScoped(watchdog(state))
    const acking = yield* Effect.makeSemaphore(1)

    const startOfBacklog = Next.fromStart(streams.length)
    /** One XACK per stream (`xacks` of them, first), then one HDEL per stream of the recorded last errors to forget. */
    const ackCommands = (acks: ReadonlyMap<string, ReadonlyArray<string>>): AckCommands => {
      const commands: Array<Redis.Command> = [...acks].map(([stream, ids]) => ["XACK", [stream, group, ...ids]])
      const xacks = commands.length
      if (state.forgets.size > 0 && xacks > 0) {
        for (const [stream, ids] of state.takeForgets()) {
          const key = LastErrors.keyOf(stream)
          if (key !== undefined) commands.push(["HDEL", [key, ...ids]])
        }
      }
      return { commands, xacks }
    }
    const countAcked = (replies: ReadonlyArray<unknown>, xacks: number) => {
      for (let i = 0; i < xacks && i < replies.length; i++) metrics.add(Metrics.acked, Number(replies[i]))
    }
    const sendAll = (commands: ReadonlyArray<Redis.Command>) =>
      commands.length === 1 ? Effect.map(connection.send(commands[0]![0], commands[0]![1]), (reply) => [reply]) : connection.pipeline(commands)

    /** Whether any of the consumer's groups is paused: EXISTS of their paused keys (none for a stream that cannot have one). */
    const pausedKeys = streams.flatMap((stream) => Keys.pausedKeyOf(stream, group) ?? [])
    const pauseCheck: Redis.Command | undefined = pausedKeys.length === 0 ? undefined : ["EXISTS", pausedKeys]
    const pausePoll = Math.min(block, 1_000)

    /**
     * The round trips of one read, the first carrying the acks not yet
     * confirmed, which go first (a read of the backlog must not see entries
     * already handled), then the pause check. Before a read that does not
     * block they travel in one write (a pipeline); before a blocking read
     * they are sent on their own, since the read would hold back their
     * reply, and a paused group's blocking read is not sent (it reads as
     * empty). `seen.paused` says what the check found.
     */
    const tripsWith = ({ commands: acks, xacks }: AckCommands, seen: { paused: boolean }): Trips => {
      const pre = pauseCheck === undefined ? acks : [...acks, pauseCheck]
      const note = (replies: ReadonlyArray<unknown>) => {
        countAcked(replies, xacks)
        if (pauseCheck !== undefined) seen.paused = Number(replies[acks.length]) > 0
      }
      return {
        first: (commands, blocks) =>
          pre.length === 0
            ? sendAll(commands)
            : blocks
            ? Effect.flatMap(connection.pipeline(pre), (replies) => {
              note(replies)
              return seen.paused ? Effect.succeed(commands.map(() => null)) : sendAll(commands)
            })
            : Effect.map(connection.pipeline([...pre, ...commands]), (replies) => {
              note(replies)
              return replies.slice(pre.length)
            }),
        next: sendAll
      }
    }

    /**
     * Delayed entries of the streams that are due, moved in (one script per
     * stream) before a read of new entries, at most every `block` ms and at
     * each next due time, so that a blocking read waits no longer than that.
     */
    const delayedOf = streams.flatMap((stream) => {
      const keys = Delayed.keysOf(stream)
      return keys === undefined ? [] : [{ stream, keys }]
    })
    if (delayedOf.length === 0) state.promoteAt = Infinity
    const promoteCount = 1_000
    const promoteIfDue: Effect.Effect<void> = Effect.suspend(() => {
      if (Date.now() < state.promoteAt) return Effect.void
      return Effect.forEach(delayedOf, ({ keys, stream }) => Delayed.promote(redis, stream, keys, promoteCount), { concurrency: "unbounded" }).pipe(
        Effect.map((done) => {
          const now = Date.now()
          // a full promotion may have left more due: again at the next read
          if (done.some((promotion) => promotion.moved.length === promoteCount)) state.promoteAt = now
          else state.promoteAt = Math.min(now + block, ...done.map((promotion) => promotion.nextDue ?? Infinity))
        }),
        // the shared connection gone silent must not hold the read (the watchdog covers the read alone)
        Effect.timeout(replyGrace),
        Effect.catchAll((error) =>
          Effect.zipRight(
            Effect.sync(() => (state.promoteAt = Date.now() + block)),
            Effect.logWarning(`could not move due delayed entries in (${error.message}); again within ${block} ms`)
          )
        )
      )
    })

    /** One read in a fiber of its own: never fails (a failure is its outcome). */
    const exchange = (read: Read): Effect.Effect<Outcome> =>
      read._tag === "New" ? Effect.zipRight(promoteIfDue, exchangeNow(read)) : acking.withPermits(1)(exchangeNow(read))

    const exchangeNow = (read: Read): Effect.Effect<Outcome> =>
      Effect.suspend(() => {
        const acks = state.takeAcks()
        const blocks = read._tag === "New" && read.block
        if (read._tag === "Backlog" && read.from.every((id) => id === "0-0")) state.retryAt = undefined
        state.deadline = Date.now() + (blocks ? block : 0) + replyGrace
        const seen = { paused: false }
        return reader.run(tripsWith(ackCommands(acks), seen), read).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              state.deadline = undefined
              if (Exit.isFailure(exit)) state.requeue(acks)
            })
          ),
          Effect.map((batch): Outcome => {
            if (config.heartbeat !== undefined) for (const message of batch.messages) state.hold(message)
            return { _tag: "Read", read, batch, paused: seen.paused }
          }),
          Effect.catchAll((error) => Effect.succeed<Outcome>({ _tag: "Failed", error, retry: error.isRetryable }))
        )
      })

    /** The next read, chosen by `next.ts` (a self-claim step chosen sets the time of the next). */
    const nextOf = (read: Read, batch: Batch): Next.Next => {
      const now = Date.now()
      const chosen = Next.next({
        streams,
        read,
        batch,
        retryAt: state.retryAt,
        claim: config.claim === undefined ? undefined : {
          unfinished: state.claimCursors.some((cursor) => cursor !== "0-0"),
          nextAt: state.nextClaimAt
        },
        now
      })
      if (chosen.read._tag === "Claim") state.nextClaimAt = now + config.claim!.every
      return chosen
    }

    const reconnect = (error: RedisError.RedisError): Effect.Effect<Outcome> =>
      Effect.zipRight(
        Effect.logWarning(`consumer lost its connection: ${error.message}; retrying`),
        Effect.matchEffect(driver.next(error), {
          onFailure: () => Effect.succeed<Outcome>({ _tag: "Failed", error, retry: false }),
          onSuccess: () => exchange(startOfBacklog)
        })
      )

    /**
     * While the group is paused: reads nothing, and checks the pause every
     * `pausePoll` ms (each check counts as a read for health); once resumed,
     * reads its backlog from the start, the batch set aside at the pause first.
     */
    const whilePaused = (waiting: number): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        yield* Effect.logInfo(`group paused: reading nothing until it is resumed (${waiting} entries of the last read stay pending)`)
        while (true) {
          yield* Effect.sleep(pausePoll)
          const paused = yield* connection.send(pauseCheck![0], pauseCheck![1])
          live.lastReadAt = Date.now()
          live.connected = true
          if (Number(paused) === 0) break
        }
        yield* Effect.logInfo("group resumed: reading again")
        return yield* exchange(startOfBacklog)
      }).pipe(Effect.catchAll((error) => Effect.succeed<Outcome>({ _tag: "Failed", error, retry: error.isRetryable })))

    // The yield lets the forked read send its command before the loop goes
    // on handling the current batch.
    const start = (effect: Effect.Effect<Outcome>) =>
      state.stopping ? Effect.void : Effect.flatMap(Effect.fork(effect), (fiber) => {
        state.inflight = fiber
        return Effect.yieldNow()
      })

    /**
     * Sends the queued acks on the shared connection, uninterruptibly and
     * holding `acking`, which reads of own pending entries wait for (they
     * must not see an entry whose XACK is still on its way). Acks that could
     * not be sent are put back, to go with the next read.
     */
    const flushAcks = acking.withPermits(1)(Effect.suspend(() => {
      const taken = state.takeAcks()
      const { commands, xacks } = ackCommands(taken)
      return commands.length === 0 ? Effect.void : redis.pipeline(commands).pipe(
        Effect.tap((replies) => countAcked(replies, xacks)),
        Effect.catchAll((error) =>
          Effect.zipRight(
            Effect.sync(() => state.requeue(taken)),
            Effect.logWarning(`could not ack handled entries (${error.message}); they stay pending`)
          )
        )
      )
    })).pipe(Effect.uninterruptible)

    /** Acks that sat a whole tick without a read to carry them (a batch still being handled) are sent on their own. */
    const ackFlusher = Effect.gen(function*() {
      let seen: ReadonlyMap<string, ReadonlyArray<string>> | undefined
      while (true) {
        yield* Effect.sleep(ackFlushEvery)
        if (state.unacked.size > 0 && state.unacked === seen) yield* flushAcks
        seen = state.unacked
      }
    })
    const flusher = yield* Effect.forkScoped(ackFlusher)

    const finish = Effect.suspend(() =>
      Effect.zipRight(state.inflight === undefined ? Effect.void : Fiber.interrupt(state.inflight), Fiber.interrupt(flusher))
    ).pipe(Effect.zipRight(flushAcks))

    const body = Effect.gen(function*() {
      let retrying = false
      yield* start(exchange(startOfBacklog))
      while (true) {
        if (state.stopping || state.inflight === undefined) return yield* Effect.interrupt
        const exit = yield* Fiber.await(state.inflight)
        state.inflight = undefined
        if (state.stopping) return yield* Effect.interrupt
        // A read fiber never fails: it was interrupted by the watchdog.
        const outcome: Outcome = Exit.isSuccess(exit) ? exit.value : { _tag: "Failed", error: silent(block), retry: true }
        if (outcome._tag === "Failed") {
          if (outcome.error.reason === "Connection") live.connected = false
          metrics.add(Metrics.readErrors, 1)
          if (outcome.retry) {
            retrying = true
            yield* start(reconnect(outcome.error))
            continue
          }
          const event = ControlEvent.ReadFailed({ error: outcome.error, context })
          if ((yield* config.control(event))._tag === "Exit") return yield* Effect.fail(outcome.error)
          yield* start(exchange(startOfBacklog))
          continue
        }
        live.lastReadAt = Date.now()
        live.connected = true
        if (retrying) {
          retrying = false
          yield* driver.reset
        }
        const { batch, read } = outcome
        if (outcome.paused) {
          // the batch stays pending, handled first after the resume
          for (const message of batch.messages) state.release(message)
          metrics.add(Metrics.pauses, 1)
          yield* start(whilePaused(batch.messages.length))
          continue
        }
        const next = nextOf(read, batch)
        if (next.ahead) yield* start(exchange(next.read))
        yield* handleBatch(batch)
        if (!next.ahead && state.exit === undefined) yield* start(exchange(next.read))
        const exited = state.exit as ControlEvent<A, E> | undefined
        if (exited !== undefined) {
          if (exited._tag === "Handled") return exited.value
          if (exited._tag === "HandlerFailed" || exited._tag === "RetryScheduled") return yield* Effect.failCause(exited.cause)
          return yield* Effect.interrupt
        }
      }
    })
    return yield* Effect.ensuring(body, finish)
  })

type Recorder = Metrics.Recorder

/**
 * Handles a batch: its trimmed entries (acked, logged, counted), what the
 * read itself did (self-claims, dead letters: events), then each message —
 * its handler, its ack (queued) and the control's decision; with `retry`, a
 * failure's backoff (or, when the schedule has ended, the dead-letter
 * stream). Per message it costs a span (only under a tracer other than
 * Effect's built-in one, and not with `Effect.withTracerEnabled(false)`), a
 * timer sample, and the control call (skipped for `Handled` under the
 * default control, which always recurs then).
 */
const batchHandler = <A, E, R, EC, RC>(
  config: LoopSettings<A, E, R, EC, RC>,
  state: State,
  metrics: Recorder,
  tracing: boolean,
  redis: Redis.Service
) => {
  const { backoff, context, retryDeadLetter } = config
  const { consumer, group } = context
  const { Claimed, DeadLettered, Handled, HandlerFailed, RetryScheduled } = ControlEvent
  const recurOnHandled = config.control === defaultControl
  const track = config.heartbeat !== undefined
  const { rateLimit } = config
  let handled = 0
  let failed = 0

  const decide = (event: ControlEvent<A, E>) =>
    Effect.map(config.control(event), (decision) => {
      if (decision._tag === "Exit" && state.exit === undefined) state.exit = event
    })

  /**
   * The handler's effect; a handler that throws instead of returning one (a
   * `JSON.parse` before its `Effect.gen`), or returns something else, fails
   * that entry with the defect, like any failure of the entry.
   */
  const guarded = <I, B>(handle: (input: I) => Effect.Effect<B, E, R>, input: I): Effect.Effect<B, E, R> => {
    try {
      const effect = handle(input)
      return Effect.isEffect(effect) ? effect : Effect.die(new TypeError(`the handler returned ${typeof effect}, not an Effect`))
    } catch (defect) {
      return Effect.die(defect)
    }
  }
  const { handling } = config
  const handleOne = (message: StreamMessage): Effect.Effect<A, E, R> =>
    handling._tag === "Each" ? guarded(handling.handle, message) : Effect.dieMessage("handleOne without a handler")

  /** OpenTelemetry's messaging attributes of the span of one entry, or of a batch. */
  const processing = (stream: string, more: Readonly<Record<string, string | number>>) =>
    Trace.messaging(stream, { type: "process", name: "process" }, { "messaging.consumer.group.name": group, "messaging.client.id": consumer, ...more })

  /** The producer's span an entry carries, or none (a malformed one is logged, and the entry handled all the same). */
  const producerOf = (message: StreamMessage): Effect.Effect<Option.Option<Tracer.ExternalSpan>> => {
    const carried = config.traceMode === undefined ? undefined : Trace.carried.get(message)
    if (carried === undefined) return Effect.succeedNone
    const span = Trace.parse(carried)
    return Option.isSome(span) ? Effect.succeed(span) : Effect.as(
      Effect.logWarning(`${message.id} of ${message.stream} carries a malformed trace context (${JSON.stringify(carried.slice(0, 100))}); its span starts without a link`),
      span
    )
  }

  const linkTo = (span: Tracer.ExternalSpan): Tracer.SpanLink => ({ _tag: "SpanLink", span, attributes: {} })

  const spanned = (message: StreamMessage): Effect.Effect<A, E, R> =>
    tracing
      ? Effect.flatMap(producerOf(message), (producer) =>
        Effect.withSpan(handleOne(message), "Consumer.handle", {
          attributes: processing(message.stream, { "messaging.message.id": message.id }),
          kind: "consumer",
          captureStackTrace: false,
          ...(Option.isNone(producer) ? {} : config.traceMode === "parent" ? { parent: producer.value } : { links: [linkTo(producer.value)] })
        }))
      : handleOne(message)

  /** A handled entry's bookkeeping: released, its ack queued, its recorded error to be forgotten. */
  const acked = (message: StreamMessage) => {
    if (track) state.release(message)
    if (state.retryDue.size > 0) state.retryDue.delete(message.id)
    // delivered before: it may have failed, and its last error is kept; handled now, it is forgotten
    if (message.deliveries !== undefined && message.deliveries > 1) state.queueForget(message.stream, message.id)
    state.queueAck(message.stream, message.id)
    handled++
  }

  const succeeded = (message: StreamMessage, value: A) => {
    acked(message)
    return recurOnHandled ? Effect.void : decide(Handled({ message, value, context }))
  }

  /**
   * After a failure, with `retry`: when the entry may be handled again, or
   * the dead-letter stream when the schedule has ended (`RetriesExhausted`)
   * or ends on this error (`NotRetryable`: at once, as a failure that can
   * never succeed).
   */
  const backOff = (message: StreamMessage, cause: Cause.Cause<E>): Effect.Effect<void, EC, RC> => {
    const failure = LastErrors.failureOf(cause)
    const hopeless = config.hopeless(failure)
    if (hopeless !== undefined) return toDlq(message, cause, failure, hopeless, config.hopelessDeadLetter)
    if (backoff === undefined) return retryDeadLetter === undefined ? Effect.void : toDlq(message, cause, failure, "RetriesExhausted", retryDeadLetter)
    const next = backoff.after(message.deliveries ?? 1, failure)
    if (next === "NotRetryable") return toDlq(message, cause, failure, "NotRetryable", config.hopelessDeadLetter)
    if (next === "RetriesExhausted") {
      return retryDeadLetter === undefined ? Effect.void : toDlq(message, cause, failure, "RetriesExhausted", retryDeadLetter)
    }
    return retryIn(message, cause, next)
  }

  /** The entry's next delivery, `delay` ms from now. */
  const retryIn = (message: StreamMessage, cause: Cause.Cause<E>, delay: number): Effect.Effect<void, EC, RC> => {
    const due = Date.now() + delay
    state.retryAt = Math.min(state.retryAt ?? Infinity, due)
    // kept in memory when only this process can know it (the default retry, or a schedule that reads its input)
    if (!backoff!.durable || !backoff!.countable()) state.retryDue.set(message.id, due)
    metrics.add(Metrics.retried, 1)
    return decide(RetryScheduled({ message, cause, delay: Duration.millis(delay), context }))
  }

  /** Dead-letters a failed entry at once, with its failure; when that fails, it stays pending (and retried as any failure). */
  const toDlq = (
    message: StreamMessage,
    cause: Cause.Cause<E>,
    failure: unknown,
    reason: "RetriesExhausted" | "NotRetryable" | "DecodeFailed",
    target: { readonly dlq: (stream: string) => string; readonly includeMessage: boolean }
  ): Effect.Effect<void, EC, RC> => {
    const deliveries = message.deliveries ?? 1
    const dlq = target.dlq(message.stream)
    const entry = { id: message.id, consumer, idle: 0, deliveries, reason, failure }
    return deadLetter(redis, { stream: message.stream, group, dlq, includeMessage: target.includeMessage }, [entry]).pipe(
      Effect.withSpan("Consumer.deadLetter", {
        attributes: Trace.messaging(message.stream, { type: "send", name: "dead-letter" }, {
          "messaging.consumer.group.name": group,
          "messaging.client.id": consumer,
          "messaging.message.id": message.id,
          "effect_redis_streams.dlq": dlq,
          "effect_redis_streams.reason": reason
        }),
        captureStackTrace: false
      }),
      Effect.matchEffect({
        onFailure: (error) =>
          Effect.zipRight(
            Effect.logWarning(`could not dead-letter ${message.id} (${error.message}); it stays pending`),
            // one that can never succeed and could not be moved is backed off by its count, like any failure
            reason === "RetriesExhausted" ? Effect.void : Effect.suspend(() => {
              const delay = backoff?.delay(message.deliveries ?? 1)
              return delay === undefined ? Effect.void : retryIn(message, cause, delay)
            })
          ),
        onSuccess: (moved) =>
          moved.has(message.id)
            ? Effect.suspend(() => {
              metrics.add(Metrics.deadLettered, 1)
              return decide(DeadLettered({ stream: message.stream, id: message.id, deliveries, dlq, reason, context }))
            })
            : Effect.void
      })
    )
  }

  /**
   * A handler that failed with `RateLimited`: not a failed attempt. The
   * consumer (and, with `rateLimit`, every consumer sharing the limiter)
   * starts nothing for the delay, and reads its backlog after it, where the
   * entry waits.
   */
  const heldBy = (message: StreamMessage, limited: RateLimited): Effect.Effect<void> => {
    const until = Date.now() + limited.delay
    state.holdUntil = Math.max(state.holdUntil ?? 0, until)
    state.retryAt = Math.min(state.retryAt ?? Infinity, until)
    metrics.add(Metrics.rateLimited, 1)
    const shared = rateLimit === undefined ? Effect.void : RateLimit.hold(redis, rateLimit.key, limited.delay).pipe(
      Effect.catchAll((error) => Effect.logWarning(`could not hold the group's rate limiter (${error.message}); this consumer holds`))
    )
    return Effect.zipRight(
      shared,
      Effect.logInfo(`${message.id} of ${message.stream} rate limited by its handler: ${rateLimit === undefined ? "this consumer holds" : "the group holds"} for ${limited.delay} ms, then handles it again`)
    )
  }

  /** The time left of a `rateLimited` hold, in ms (0 when there is none, or it is over). */
  const holdLeft = (): number => {
    if (state.holdUntil === undefined) return 0
    const left = state.holdUntil - Date.now()
    if (left > 0) return left
    state.holdUntil = undefined
    return 0
  }
  /** Whether a hold is on now (one field read when there is none). */
  const held = (): boolean => state.holdUntil !== undefined && holdLeft() > 0
  /** Waits out a hold in steps of at most 100 ms, so that a stop does not wait for it. */
  const waitHold: Effect.Effect<void> = Effect.suspend(() => {
    const left = holdLeft()
    return left === 0 || state.stopping ? Effect.void : Effect.zipRight(Effect.sleep(Math.min(left, 100)), waitHold)
  })

  /** A failed entry: its error recorded, the control told (unless `told` already, for a whole batch), its backoff. */
  const failedWith = (message: StreamMessage, cause: Cause.Cause<E>, told = false) => {
    if (track) state.release(message)
    if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && failure.value instanceof RateLimited) return heldBy(message, failure.value)
    failed++
    // the failure is kept in Redis, so that whoever dead-letters the entry later writes it into the letter
    return LastErrors.record(redis, message.stream, group, message.id, LastErrors.failureOf(cause)).pipe(
      Effect.zipRight(told ? Effect.void : decide(HandlerFailed({ message, cause, context }))),
      Effect.zipRight(Effect.suspend(() => (state.exit === undefined ? backOff(message, cause) : Effect.void)))
    )
  }

  /** The read's own doings: trimmed entries acked (where Redis did not) and logged, claims and dead letters as events. */
  const readEvents = (batch: Batch): Effect.Effect<void, EC, RC> =>
    Effect.gen(function*() {
      for (const { acked, id, stream } of batch.trimmed) {
        if (!acked) state.queueAck(stream, id)
        metrics.add(Metrics.trimmed, 1)
        yield* Effect.logWarning(`pending entry ${id} of ${stream} was trimmed from the stream; acked without handling`)
      }
      for (const { ids, stream } of batch.claimed) {
        metrics.add(Metrics.claimed, ids.length)
        yield* decide(Claimed({ stream, ids, context }))
      }
      for (const letter of batch.deadLettered) {
        metrics.add(Metrics.deadLettered, 1)
        yield* decide(DeadLettered({ ...letter, context }))
      }
    })

  /** The message's handling, unless the consumer is stopping or exiting. */
  const one = (
    message: StreamMessage,
    handle: (message: StreamMessage) => Effect.Effect<void, EC, R | RC>
  ): Effect.Effect<void, EC, R | RC> =>
    state.stopping || state.exit !== undefined
      ? Effect.void
      : held()
      ? Effect.zipRight(waitHold, Effect.suspend(() => one(message, handle)))
      : handle(message)

  /** Handles a message with continuations of its own (for handlers that run concurrently). */
  const alongside = (message: StreamMessage) => {
    const startedAt = performance.now()
    return Effect.matchCauseEffect(spanned(message), {
      onSuccess: (value) => {
        metrics.duration(performance.now() - startedAt)
        return succeeded(message, value)
      },
      onFailure: (cause) => {
        metrics.duration(performance.now() - startedAt)
        return failedWith(message, cause)
      }
    })
  }

  // In order, one message is handled at a time: its continuations are made
  // once, read the message being handled from here, and go on to the next
  // message themselves, so that an entry costs the runtime two steps (the
  // handler's effect and its continuation), not a loop's third.
  let messages: ReadonlyArray<StreamMessage> = []
  let i = 0
  let current: StreamMessage
  let startedAt = 0
  const nextInOrder = (): Effect.Effect<void, EC, R | RC> => {
    if (i >= messages.length || state.stopping || state.exit !== undefined) return Effect.void
    if (held()) return Effect.zipRight(waitHold, Effect.suspend(nextInOrder))
    current = messages[i++]!
    startedAt = performance.now()
    return Effect.matchCauseEffect(spanned(current), inOrderOutcome)
  }
  const thenNext = (settle: Effect.Effect<void, EC, RC>): Effect.Effect<void, EC, R | RC> =>
    settle === Effect.void ? nextInOrder() : Effect.zipRight(settle, Effect.suspend(nextInOrder))
  const inOrderOutcome = {
    onSuccess: (value: A) => {
      metrics.duration(performance.now() - startedAt)
      return thenNext(succeeded(current, value))
    },
    onFailure: (cause: Cause.Cause<E>) => {
      metrics.duration(performance.now() - startedAt)
      return thenNext(failedWith(current, cause))
    }
  }

  const inOrder = (batch: ReadonlyArray<StreamMessage>): Effect.Effect<void, EC, R | RC> =>
    Effect.suspend(() => {
      messages = batch
      i = 0
      return nextInOrder()
    })

  /** Each message in turn, until the control says `Exit`. */
  const eachOf = (
    messages: ReadonlyArray<StreamMessage>,
    settle: (message: StreamMessage) => Effect.Effect<void, EC, RC>
  ): Effect.Effect<void, EC, RC> => {
    let i = 0
    return Effect.whileLoop({
      while: () => i < messages.length && state.exit === undefined,
      body: () => settle(messages[i++]!),
      step: () => {}
    })
  }

  /** After a batch handler succeeded: the entries it names as failed fail, every other one is acked. */
  const batchSucceeded = (messages: ReadonlyArray<StreamMessage>, value: A | PartialFailure<E>): Effect.Effect<void, EC, RC> => {
    if (!(value instanceof PartialFailure)) {
      if (!recurOnHandled) return eachOf(messages, (message) => succeeded(message, value))
      for (const message of messages) acked(message)
      return Effect.void
    }
    const failures = new Map(value.failed.map(({ error, message }) => [`${message.stream}\u0000${message.id}`, error]))
    return eachOf(messages, (message) => {
      const key = `${message.stream}\u0000${message.id}`
      return failures.has(key) ? failedWith(message, Cause.fail(failures.get(key)!)) : succeeded(message, undefined as A)
    })
  }

  const batchFailedLog = (messages: ReadonlyArray<StreamMessage>, cause: Cause.Cause<E>) => {
    const first = messages[0]!
    const last = messages[messages.length - 1]!
    const text = `batch handler failed on ${messages.length} entries (${first.id} of ${first.stream} to ${last.id} of ${last.stream})`
    const failure = Cause.failureOption(cause)
    return Option.isSome(failure) ? Effect.logWarning(`${text}: ${describeFailure(failure.value)}`) : Effect.logWarning(text, cause)
  }

  /** One run of the batch handler over the batch; its outcome settles every entry. */
  const batchOf = (handle: (messages: ReadonlyArray<StreamMessage>) => Effect.Effect<A | PartialFailure<E>, E, R>) =>
  (messages: ReadonlyArray<StreamMessage>): Effect.Effect<void, EC, R | RC> => {
    if (messages.length === 0 || state.stopping || state.exit !== undefined) return Effect.void
    if (held()) return Effect.zipRight(waitHold, Effect.suspend(() => batchOf(handle)(messages)))
    const effect = guarded(handle, messages)
    const startedAt = performance.now()
    return Effect.matchCauseEffect(
      tracing
        ? Effect.flatMap(Effect.forEach(messages, producerOf), (producers) =>
          Effect.withSpan(effect, "Consumer.handleBatch", {
            attributes: processing(context.stream, { "messaging.batch.message_count": messages.length }),
            kind: "consumer",
            captureStackTrace: false,
            // a batch has no one parent: it links to the span of every entry that carries one
            links: producers.flatMap((producer) => Option.isSome(producer) ? [linkTo(producer.value)] : [])
          }))
        : effect,
      {
        onSuccess: (value) => {
          metrics.duration(performance.now() - startedAt)
          return batchSucceeded(messages, value)
        },
        onFailure: (cause) => {
          metrics.duration(performance.now() - startedAt)
          if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
          // under the default control (which logs each failure and recurs) a failed batch is logged once
          if (!recurOnHandled) return eachOf(messages, (message) => failedWith(message, cause))
          return Effect.zipRight(batchFailedLog(messages, cause), eachOf(messages, (message) => failedWith(message, cause, true)))
        }
      }
    )
  }

  const handleAll = (messages: ReadonlyArray<StreamMessage>): Effect.Effect<void, EC, R | RC> =>
    handling._tag === "Batch"
      ? batchOf(handling.handle)(messages)
      : config.concurrency === 1
      ? inOrder(messages)
      : Effect.forEach(messages, (message) => Effect.suspend(() => one(message, alongside)), {
        concurrency: config.concurrency,
        discard: true
      })

  const stopped = () => state.stopping || state.exit !== undefined
  const waited = () => metrics.add(Metrics.throttled, 1)
  /** The batch's handlers, started as the group's rate limit allows (a batch handler gets each grant's part). */
  const startAll = (messages: ReadonlyArray<StreamMessage>): Effect.Effect<void, EC, R | RC> =>
    rateLimit === undefined || messages.length === 0
      ? handleAll(messages)
      : RateLimit.limited(redis, rateLimit.key, rateLimit.settings, messages, handleAll, stopped, waited)

  const all = (batch: Batch): Effect.Effect<void, EC, R | RC> =>
    batch.trimmed.length === 0 && batch.claimed.length === 0 && batch.deadLettered.length === 0
      ? startAll(batch.messages)
      : Effect.zipRight(readEvents(batch), Effect.suspend(() => (state.exit === undefined ? startAll(batch.messages) : Effect.void)))

  return (batch: Batch) =>
    Effect.ensuring(
      all(batch),
      Effect.sync(() => {
        if (track) for (const message of batch.messages) state.release(message)
        metrics.add(Metrics.handled, handled)
        metrics.add(Metrics.failed, failed)
        handled = 0
        failed = 0
      })
    )
}

/**
 * Every `every` ms, resets the idle time of the entries delivered to this
 * consumer that are not settled yet (running, waiting for their turn, or read ahead):
 * XCLAIM … JUSTID to this consumer, which keeps the delivery count.
 */
const heartbeat = (redis: Redis.Service, context: ConsumerContext, every: number, state: State) =>
  Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(every)
      const claims: Array<Redis.Command> = []
      for (const [stream, ids] of state.held) {
        if (ids.size > 0) claims.push(["XCLAIM", [stream, context.group, context.consumer, 0, ...ids, "JUSTID"]])
      }
      if (claims.length === 0) continue
      yield* redis.pipeline(claims).pipe(Effect.catchAll((error) => Effect.logWarning(`heartbeat failed: ${error.message}`)))
    }
  })
