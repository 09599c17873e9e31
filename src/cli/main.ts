#!/usr/bin/env node
/**
 * The `effect-redis-streams` operator CLI.
 *
 * Failures end the process with exit code 1 and one line on stderr: usage
 * errors are printed by `@effect/cli`, everything else as `error: <message>`.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Option } from "effect"
import { root } from "./commands.js"

const cli = Command.run(root, { name: "effect-redis-streams", version: "0.1.0" })

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error)

/** One line for the failure; usage errors were printed already. */
const report = <E>(cause: Cause.Cause<E>): Effect.Effect<void> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) return Effect.void
  return Console.error(`error: ${messageOf(Option.getOrElse(failure, () => Cause.squash(cause)))}`)
}

Effect.suspend(() => cli(process.argv)).pipe(
  Effect.tapErrorCause(report),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
