/**
 * The consumer's data: which consumer a message belongs to, the message the
 * handler gets, and the control decisions and events (`Control`,
 * `ControlEvent`, `defaultControl`). Its own module so that `Consumer.ts`
 * (which re-exports all of it) and the loop that interprets it
 * (`consumerLoop.ts`) both import it, and not each other.
 */
import type { Cause } from "effect"
import { Data, Effect } from "effect"
import type * as RedisError from "../RedisError.js"

/**
 * Which consumer an event or message belongs to.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerContext {
  readonly stream: string
  readonly group: string
  readonly consumer: string
}

/**
 * A stream entry as the handler gets it. `deliveries` is how many times the
 * group has delivered it, counting this time (1 for a new entry).
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamMessage extends ConsumerContext {
  readonly id: string
  readonly fields: Readonly<Record<string, string>>
  readonly deliveries?: number | undefined
}

/**
 * A {@link StreamMessage} whose fields were decoded with the `schema` option.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodedMessage<D> extends StreamMessage {
  readonly data: D
}

/**
 * What the consumer does next: `Exit` ends the run, `Recur` goes on.
 *
 * @since 0.1.0
 * @category models
 */
export type Control = Data.TaggedEnum<{
  Exit: {}
  Recur: {}
}>

/**
 * Constructors of {@link Control}: `Control.Exit()`, `Control.Recur()`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Control = Data.taggedEnum<Control>()

/**
 * What happened, handed to the `control` function after every handled entry
 * and every failed read:
 *
 * - `ReadFailed`: reading the group failed (also when unblocked with
 *   `CLIENT UNBLOCK … ERROR`); lost connections are retried on the
 *   `reconnect` schedule before this is seen.
 * - `Handled`: the handler succeeded with `value`; the entry is acked.
 * - `HandlerFailed`: the handler failed (or its fields did not decode with
 *   `schema`); the entry stays pending.
 *
 * @since 0.1.0
 * @category models
 */
export type ControlEvent<A = unknown, E = unknown> = Data.TaggedEnum<{
  ReadFailed: { readonly error: RedisError.RedisError; readonly context: ConsumerContext }
  Handled: { readonly message: StreamMessage; readonly value: A; readonly context: ConsumerContext }
  HandlerFailed: { readonly message: StreamMessage; readonly cause: Cause.Cause<E>; readonly context: ConsumerContext }
}>

/**
 * @since 0.1.0
 * @category models
 */
export interface ControlEventDefinition extends Data.TaggedEnum.WithGenerics<2> {
  readonly taggedEnum: ControlEvent<this["A"], this["B"]>
}

/**
 * Constructors and matchers of {@link ControlEvent}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ControlEvent = Data.taggedEnum<ControlEventDefinition>()

const exit: Effect.Effect<Control> = Effect.succeed(Control.Exit())
const recur: Effect.Effect<Control> = Effect.succeed(Control.Recur())

/**
 * The seed's `default-control-fn`: a failed read is logged and exits (this
 * includes being unblocked), a handled entry recurs, a failed handler is
 * logged and recurs.
 *
 * @since 0.1.0
 * @category control
 */
export const defaultControl = (event: ControlEvent<unknown, unknown>): Effect.Effect<Control> => {
  switch (event._tag) {
    case "Handled":
      return recur
    case "ReadFailed":
      return Effect.zipRight(
        Effect.logWarning(`consumer read failed (${event.error.reason}): ${event.error.message}; exiting`),
        exit
      )
    case "HandlerFailed":
      return Effect.zipRight(
        Effect.logWarning(`handler failed on ${event.message.id}; the entry stays pending`, event.cause),
        recur
      )
  }
}

