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
import { Cause, Console, Effect, Logger, Option } from "effect"
import { root } from "./commands.js"
import { fit } from "./fit.js"

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

/** Colour only on a terminal, and never with `NO_COLOR` set (https://no-color.org). */
const plain = process.env["NO_COLOR"] !== undefined && process.env["NO_COLOR"] !== "" || process.stdout.isTTY !== true

// eslint-disable-next-line no-control-regex
const escapes = /\u001b\[[0-9;]*m/g

/** The subcommands named before the first flag (`dlq list` in `dlq list --help`). */
const path = (() => {
  const words: Array<string> = []
  for (const arg of process.argv.slice(2)) {
    if (arg.startsWith("-")) break
    words.push(arg)
  }
  return words
})()

/**
 * A subcommand's usage line as it is typed: `$ effect-redis-streams dlq list …`
 * (@effect/cli prints only the last name: `$ list …`).
 */
const fullUsage = (text: string): string =>
  path.length === 0 ? text : text.replace(new RegExp(`^(\\$ )${path[path.length - 1]}\\b`, "m"), `$1effect-redis-streams ${path.join(" ")}`)

/**
 * What the CLI prints: without colour escapes when `plain`, and with
 * `--help` reflowed to the terminal's width (80 columns when it is not one).
 */
const fitted = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const help = process.argv.includes("--help") || process.argv.includes("-h")
  if (!help && !plain) return program
  const width = Math.min(process.stdout.columns ?? 80, 100)
  const shape = (arg: unknown) => {
    if (typeof arg !== "string") return arg
    const text = plain ? arg.replace(escapes, "") : arg
    return help ? fit(fullUsage(text), width) : text
  }
  return Effect.flatMap(Effect.console, (console) =>
    Effect.withConsole(program, {
      ...console,
      log: (...args: ReadonlyArray<unknown>) => console.log(...args.map(shape)),
      error: (...args: ReadonlyArray<unknown>) => console.error(...args.map(shape))
    }))
}

/**
 * Logs go to stderr, so that stdout holds only what a command prints
 * (`--json` stays JSON), in colour only on a terminal and without `NO_COLOR`.
 */
const logsOnStderr = Logger.replace(
  Logger.defaultLogger,
  Logger.prettyLogger({ stderr: true, colors: process.stderr.isTTY === true && process.env["NO_COLOR"] === undefined })
)

Effect.suspend(() => cli(process.argv)).pipe(
  fitted,
  Effect.tapErrorCause(report),
  Effect.provide(logsOnStderr),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
