/**
 * The consumer's loop: a state machine over reads of its dedicated
 * connection, written for throughput.
 *
 * - Reads happen in forked fibers: while a batch is handled the next one is
 *   already read (without BLOCK), and the acks of the previous batch go in
 *   the same write, ahead of it (one XACK per batch, pipelined). Everything
 *   the loop waits on (reads, reconnect delays) is such a fiber, so a
 *   graceful stop interrupts only that fiber, never a handler.
 * - Per entry there is one span (when a tracer that exports is installed),
 *   one control call (skipped for `Handled` under the default control), one
 *   timer sample and plain array/counter updates; counters are written per
 *   batch (see `consumerMetrics.ts`). Handled in order, entries make no
 *   closures of their own.
 * - A watchdog fiber interrupts a read still in flight a grace period past
 *   its block time, which drops the connection: a socket that went silent
 *   without closing (ioredis would wait on it forever) is then retried like
 *   any lost connection.
 */
import { Cause, Effect, Exit, Fiber, FiberRef, Schedule } from "effect"
import type { ConsumerContext, Control, StreamMessage } from "./consumerData.js"
import { ControlEvent, defaultControl } from "./consumerData.js"
import * as Redis from "../Redis.js"
import * as RedisError from "../RedisError.js"
import * as Metrics from "./consumerMetrics.js"
import * as replies from "./replies.js"

/** How long past its block time a read may take before its connection is presumed dead. */
export const replyGrace = 3_000

/** The consumer's settings, validated. */
export interface LoopSettings<A, E, R, EC, RC> {
  readonly context: ConsumerContext
  readonly block: number
  readonly count: number
  readonly concurrency: number
  readonly heartbeat: number | undefined
  readonly reconnect: Schedule.Schedule<unknown, RedisError.RedisError>
  readonly interruptHandlers: boolean
  readonly handle: (message: StreamMessage) => Effect.Effect<A, E, R>
  readonly control: (event: ControlEvent<A, E>) => Effect.Effect<Control, EC, RC>
}

/** A read of the group: `from` is `">"` for new entries, or an id to read own pending entries after it. */
interface Read {
  readonly from: string
  readonly block: boolean
}

const startOfBacklog: Read = { from: "0-0", block: false }
const blocking: Read = { from: ">", block: true }
const readAhead: Read = { from: ">", block: false }

/** What one read brought, decoded straight into the handler's messages. */
interface Batch {
  /** The entries to handle, in stream order. */
  readonly messages: ReadonlyArray<StreamMessage>
  /** Ids of pending entries whose payload was trimmed from the stream: acked, never handled. */
  readonly trimmed: ReadonlyArray<string>
  /** The last id read (`undefined`: nothing was read), where a read of the backlog goes on. */
  readonly lastId: string | undefined
}

const emptyBatch: Batch = { messages: [], trimmed: [], lastId: undefined }

/** What a read fiber ends with: it never fails. */
type Outcome =
  | { readonly _tag: "Read"; readonly read: Read; readonly batch: Batch }
  | { readonly _tag: "Failed"; readonly error: RedisError.RedisError; readonly retry: boolean }

/** After the read `read` came back empty: what to read next. */
const afterEmpty = (read: Read): Read => (read.from === ">" && read.block ? startOfBacklog : blocking)

/** After a non-empty batch of `read`: the read-ahead. */
const afterBatch = (read: Read, lastId: string): Read => read.from === ">" ? readAhead : { from: lastId, block: false }

/**
 * Effect's built-in tracer: its spans go nowhere but cost more than the
 * rest of an entry's handling, so entries get spans only under another
 * tracer (an exporter such as `@effect/opentelemetry`).
 */
const builtInTracer = Effect.runSync(Effect.tracer)

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
      const state = new State()
      // A daemon: a child fiber would be interrupted along with this one,
      // handler and all; this fiber awaits it in every case instead.
      const fiber = yield* Effect.forkDaemon(restore(Effect.scoped(loop(config, state))))
      return yield* restore(Fiber.join(fiber)).pipe(
        Effect.onInterrupt(() =>
          config.interruptHandlers ? Fiber.interrupt(fiber) : Effect.suspend(() => {
            state.stopping = true
            return state.inflight === undefined
              ? Fiber.await(fiber)
              : Effect.zipRight(Fiber.interrupt(state.inflight), Fiber.await(fiber))
          })
        )
      )
    })
  )

class State {
  /** Set when the consumer is interrupted: no new handler starts, no new read. */
  stopping = false
  /** The read (or reconnect delay and read) the loop is waiting on or reading ahead. */
  inflight: Fiber.RuntimeFiber<Outcome> | undefined = undefined
  /** Ids handled (or found trimmed) whose XACK is not confirmed yet. */
  unacked: Array<string> = []
  /**
   * Ids delivered to this consumer and not settled yet, for the heartbeat:
   * those of the batch being handled and of the batch read ahead (which
   * waits as long as the current one takes).
   */
  readonly held = new Set<string>()
  /** When the read in flight is overdue (epoch ms), if one is in flight. */
  deadline: number | undefined = undefined
  /** The event whose control returned `Exit`. */
  exit: ControlEvent<unknown, unknown> | undefined = undefined
}

const loop = <A, E, R, EC, RC>(config: LoopSettings<A, E, R, EC, RC>, state: State) =>
  Effect.gen(function*() {
    const { block, context, count } = config
    const { consumer, group, stream } = context
    const redis = yield* Redis.Redis
    const connection = yield* redis.dedicated(consumer)
    const metrics = yield* Metrics.recorder(stream, group)
    const driver = yield* Schedule.driver(config.reconnect)
    const tracing = (yield* FiberRef.get(FiberRef.currentTracerEnabled)) && (yield* Effect.tracer) !== builtInTracer
    const handleBatch = batchHandler(config, state, metrics, tracing)
    if (config.heartbeat !== undefined) yield* Effect.forkScoped(heartbeat(redis, context, config.heartbeat, state))
    yield* Effect.forkScoped(watchdog(state))

    const ackArgs = (ids: ReadonlyArray<string>) => [stream, group, ...ids]
    const acked = (reply: unknown) => metrics.add(Metrics.acked, Number(reply))
    const ack = (sender: Redis.Sender, ids: ReadonlyArray<string>) => Effect.tap(sender.send("XACK", ackArgs(ids)), acked)

    const readArgs = (read: Read) =>
      read.block
        ? ["GROUP", group, consumer, "COUNT", count, "BLOCK", block, "STREAMS", stream, read.from]
        : ["GROUP", group, consumer, "COUNT", count, "STREAMS", stream, read.from]

    const deliveriesOf = (first: string, last: string, count: number) =>
      connection.send("XPENDING", [stream, group, first, last, count, consumer]).pipe(
        Effect.flatMap(replies.pendingEntries),
        Effect.map((rows) => new Map(rows.map((row) => [row.id, row.deliveries])))
      )

    /** The messages of a read; new entries are at their first delivery, backlog entries at XPENDING's count. */
    const decode = (reply: unknown, deliveries: ReadonlyMap<string, number> | undefined) =>
      Effect.suspend((): Effect.Effect<Batch, RedisError.RedisError> => {
        const messages: Array<StreamMessage> = []
        const trimmed: Array<string> = []
        let lastId: string | undefined
        // groupRead calls back for every entry before it returns
        const parsed = replies.groupRead("XREADGROUP", reply, (id, fields) => {
          lastId = id
          if (fields === null) trimmed.push(id)
          else messages.push({ stream, group, consumer, id, fields, deliveries: deliveries?.get(id) ?? 1 })
        })
        return Effect.as(parsed, lastId === undefined ? emptyBatch : { messages, trimmed, lastId })
      })

    /** The first and last id of a reply of own pending entries, and how many it has (for XPENDING). */
    const backlogRange = (reply: unknown) => {
      const items: unknown = Array.isArray(reply) && Array.isArray(reply[0]) ? reply[0][1] : undefined
      return Array.isArray(items) && items.length > 0 && Array.isArray(items[0]) && Array.isArray(items[items.length - 1])
        ? { first: String(items[0][0]), last: String(items[items.length - 1][0]), count: items.length }
        : undefined
    }

    const batchOf = (read: Read, reply: unknown): Effect.Effect<Batch, RedisError.RedisError> => {
      const range = read.from === ">" ? undefined : backlogRange(reply)
      return range === undefined
        ? decode(reply, undefined)
        : Effect.flatMap(deliveriesOf(range.first, range.last, range.count), (deliveries) => decode(reply, deliveries))
    }

    const readEntries = (read: Read) =>
      Effect.flatMap(connection.send("XREADGROUP", readArgs(read)), (reply) => batchOf(read, reply))

    /**
     * One read, carrying the acks not yet confirmed, which go first: a read
     * of the backlog must not see entries already handled. Before a read
     * that does not block they travel in one write (a pipeline); before a
     * blocking read they are sent on their own, since the read would hold
     * back their reply.
     */
    const exchange = (read: Read): Effect.Effect<Outcome> =>
      Effect.suspend(() => {
        const ids = state.unacked
        state.unacked = []
        state.deadline = Date.now() + (read.block ? block : 0) + replyGrace
        const both = ids.length === 0
          ? readEntries(read)
          : read.block
          ? Effect.zipRight(ack(connection, ids), readEntries(read))
          : Effect.flatMap(connection.pipeline([["XACK", ackArgs(ids)], ["XREADGROUP", readArgs(read)]]), ([ackReply, reply]) => {
            acked(ackReply)
            return batchOf(read, reply)
          })
        return both.pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              state.deadline = undefined
              if (Exit.isFailure(exit)) state.unacked = ids.concat(state.unacked)
            })
          ),
          Effect.map((batch): Outcome => {
            if (config.heartbeat !== undefined) for (const message of batch.messages) state.held.add(message.id)
            return { _tag: "Read", read, batch }
          }),
          Effect.catchAll((error) => Effect.succeed<Outcome>({ _tag: "Failed", error, retry: error.isRetryable }))
        )
      })

    const reconnect = (error: RedisError.RedisError): Effect.Effect<Outcome> =>
      Effect.zipRight(
        Effect.logWarning(`consumer lost its connection: ${error.message}; retrying`),
        Effect.matchEffect(driver.next(error), {
          onFailure: () => Effect.succeed<Outcome>({ _tag: "Failed", error, retry: false }),
          onSuccess: () => exchange(startOfBacklog)
        })
      )

    // The yield lets the forked read send its command before the loop goes
    // on handling the current batch.
    const start = (effect: Effect.Effect<Outcome>) =>
      state.stopping ? Effect.void : Effect.flatMap(Effect.fork(effect), (fiber) => {
        state.inflight = fiber
        return Effect.yieldNow()
      })

    const flushAcks = Effect.suspend(() => {
      const ids = state.unacked
      state.unacked = []
      return ids.length === 0 ? Effect.void : ack(redis, ids).pipe(
        Effect.catchAll((error) => Effect.logWarning(`could not ack handled entries (${error.message}); they stay pending`))
      )
    })

    const finish = Effect.suspend(() =>
      state.inflight === undefined ? flushAcks : Effect.zipRight(Fiber.interrupt(state.inflight), flushAcks)
    )

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
        if (retrying) {
          retrying = false
          yield* driver.reset
        }
        const { batch, read } = outcome
        if (batch.lastId === undefined) {
          yield* start(exchange(afterEmpty(read)))
          continue
        }
        yield* start(exchange(afterBatch(read, batch.lastId)))
        yield* handleBatch(batch)
        const exited = state.exit as ControlEvent<A, E> | undefined
        if (exited !== undefined) {
          if (exited._tag === "Handled") return exited.value
          if (exited._tag === "HandlerFailed") return yield* Effect.failCause(exited.cause)
        }
      }
    })
    return yield* Effect.ensuring(body, finish)
  })


type Recorder = Metrics.Recorder

/**
 * Handles the entries of a batch: each handler, its ack (queued) and the
 * control's decision. Per entry it costs a span (only under a tracer other
 * than Effect's built-in one, and not with `Effect.withTracerEnabled(false)`), a timer sample, and the
 * control call (skipped for `Handled` under the default control, which
 * always recurs then).
 */
const batchHandler = <A, E, R, EC, RC>(
  config: LoopSettings<A, E, R, EC, RC>,
  state: State,
  metrics: Recorder,
  tracing: boolean
) => {
  const { context } = config
  const { consumer, group, stream } = context
  const { Handled, HandlerFailed } = ControlEvent
  const recurOnHandled = config.control === defaultControl
  const track = config.heartbeat !== undefined
  let handled = 0
  let failed = 0

  const decide = (event: ControlEvent<A, E>) =>
    Effect.map(config.control(event), (decision) => {
      if (decision._tag === "Exit" && state.exit === undefined) state.exit = event
    })

  const spanned = (message: StreamMessage) =>
    tracing
      ? Effect.withSpan(config.handle(message), "Consumer.handle", {
        attributes: { stream, group, consumer, id: message.id },
        kind: "consumer",
        captureStackTrace: false
      })
      : config.handle(message)

  const settled = (id: string, startedAt: number) => {
    metrics.duration(performance.now() - startedAt)
    if (track) state.held.delete(id)
  }

  const succeeded = (message: StreamMessage, startedAt: number, value: A) => {
    settled(message.id, startedAt)
    state.unacked.push(message.id)
    handled++
    return recurOnHandled ? Effect.void : decide(Handled({ message, value, context }))
  }

  const failedWith = (message: StreamMessage, startedAt: number, cause: Cause.Cause<E>) => {
    settled(message.id, startedAt)
    if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
    failed++
    return decide(HandlerFailed({ message, cause, context }))
  }

  /** Acks the batch's trimmed entries without handling them, with a warning each. */
  const trimmed = (ids: ReadonlyArray<string>) =>
    Effect.forEach(ids, (id) => {
      state.unacked.push(id)
      metrics.add(Metrics.trimmed, 1)
      return Effect.logWarning(`pending entry ${id} was trimmed from the stream; acked without handling`)
    }, { discard: true })

  /** The message's handling, unless the consumer is stopping or exiting. */
  const one = (
    message: StreamMessage,
    handle: (message: StreamMessage) => Effect.Effect<void, EC, R | RC>
  ): Effect.Effect<void, EC, R | RC> => state.stopping || state.exit !== undefined ? Effect.void : handle(message)

  /** Handles a message with continuations of its own (for handlers that run concurrently). */
  const alongside = (message: StreamMessage) => {
    const startedAt = performance.now()
    return Effect.matchCauseEffect(spanned(message), {
      onSuccess: (value) => succeeded(message, startedAt, value),
      onFailure: (cause) => failedWith(message, startedAt, cause)
    })
  }

  // In order, one message is handled at a time: its continuations are made
  // once, and read the message being handled from here.
  let current: StreamMessage
  let startedAt = 0
  const inOrderOutcome = {
    onSuccess: (value: A) => succeeded(current, startedAt, value),
    onFailure: (cause: Cause.Cause<E>) => failedWith(current, startedAt, cause)
  }
  const alone = (message: StreamMessage) => {
    current = message
    startedAt = performance.now()
    return Effect.matchCauseEffect(spanned(message), inOrderOutcome)
  }

  const inOrder = (messages: ReadonlyArray<StreamMessage>): Effect.Effect<void, EC, R | RC> => {
    let i = 0
    return Effect.whileLoop({
      while: () => i < messages.length,
      body: () => one(messages[i++]!, alone),
      step: () => {}
    })
  }

  const handleAll = (messages: ReadonlyArray<StreamMessage>): Effect.Effect<void, EC, R | RC> =>
    config.concurrency === 1
      ? inOrder(messages)
      : Effect.forEach(messages, (message) => Effect.suspend(() => one(message, alongside)), {
        concurrency: config.concurrency,
        discard: true
      })

  const all = (batch: Batch): Effect.Effect<void, EC, R | RC> =>
    batch.trimmed.length === 0 ? handleAll(batch.messages) : Effect.zipRight(trimmed(batch.trimmed), handleAll(batch.messages))

  return (batch: Batch) =>
    Effect.ensuring(
      all(batch),
      Effect.sync(() => {
        if (track) for (const message of batch.messages) state.held.delete(message.id)
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
      if (state.held.size === 0) continue
      yield* redis.send("XCLAIM", [context.stream, context.group, context.consumer, 0, ...state.held, "JUSTID"]).pipe(
        Effect.catchAll((error) => Effect.logWarning(`heartbeat failed: ${error.message}`))
      )
    }
  })
