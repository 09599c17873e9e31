/**
 * The operator CLI's commands. Each handler calls one library function and
 * prints its result through `format.ts`; the library does the work.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import { Config, Console, Duration, Effect, Option, Schedule } from "effect"
import * as Consumer from "../Consumer.js"
import * as Dashboard from "../Dashboard.js"
import * as Gc from "../Gc.js"
import * as Groups from "../Groups.js"
import * as Redis from "../Redis.js"
import * as RedisError from "../RedisError.js"
import * as Streams from "../Streams.js"
import * as Format from "./format.js"

const url = Options.text("url").pipe(
  Options.withDescription("The Redis server, e.g. redis://localhost:6379 (default: $REDIS_URL, else redis://localhost:6379)"),
  Options.optional
)

const json = Options.boolean("json").pipe(Options.withDescription("Print JSON (for scripts) instead of a table"))

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

const durationPattern = /^(\d+(?:\.\d+)?)\s*(ms|millis|s|seconds?|m|minutes?|h|hours?)?$/

const units: Record<string, (amount: number) => Duration.Duration> = {
  ms: Duration.millis,
  millis: Duration.millis,
  s: Duration.seconds,
  second: Duration.seconds,
  seconds: Duration.seconds,
  m: Duration.minutes,
  minute: Duration.minutes,
  minutes: Duration.minutes,
  h: Duration.hours,
  hour: Duration.hours,
  hours: Duration.hours
}

/** Parses `1500` (milliseconds), `1500ms`, `30s`, `10m`, `1h` or `30 seconds`. */
const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const match = durationPattern.exec(text.trim())
  return match === null ? Option.none() : Option.some(units[match[2] ?? "ms"]!(Number(match[1])))
}

const duration = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(`${description} (e.g. 1500, 30s, 10m)`),
    Options.mapEffect((text) =>
      Option.match(parseDuration(text), {
        onNone: () => invalid(`--${name}: ${JSON.stringify(text)} is not a duration (e.g. 1500, 30s, 10m)`),
        onSome: Effect.succeed
      })
    ),
    Options.optional
  )

const positive = (name: string, description: string) =>
  Options.integer(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((n) => (n > 0 ? Effect.succeed(n) : invalid(`--${name} must be a positive integer, got ${n}`))),
    Options.optional
  )

const redisLayer = (url: Option.Option<string>) =>
  Option.match(url, { onNone: () => Redis.layerConfig(), onSome: (url) => Redis.layer(url) })

const withRedis = <Name extends string, R, E, A extends { readonly url: Option.Option<string> }>(
  command: Command.Command<Name, R, E, A>
) => Command.provide(command, ({ url }) => redisLayer(url))

const argWithDefault = (name: string, description: string, fallback: string) =>
  Args.text({ name }).pipe(Args.withDescription(`${description} (default ${fallback})`), Args.withDefault(fallback))

/** The result printed as JSON with `--json`, as text otherwise. */
const print = <A>(asJson: boolean, value: A, text: (value: A) => string) => Console.log(asJson ? Format.json(value) : text(value))

const streams = Command.make("streams", {
  url,
  json,
  pattern: argWithDefault("pattern", "A glob over key names", "stream/*")
}, ({ json, pattern }) =>
  Effect.flatMap(Streams.allStreamKeys(pattern), (keys) =>
    print(json, keys, (keys) => Format.lines(keys, `no stream keys match ${pattern}`)))).pipe(
    Command.withDescription("List the keys of type stream matching a pattern (SCAN, every master)")
  )

const stream = Args.text({ name: "stream" }).pipe(Args.withDescription("The stream key"))
const group = Args.text({ name: "group" }).pipe(Args.withDescription("The consumer group"))

const groups = Command.make("groups", { url, json, stream }, ({ json, stream }) =>
  Effect.flatMap(Groups.names(stream), (names) =>
    print(json, names, (names) => Format.lines(names, `${stream} has no consumer groups`)))).pipe(
    Command.withDescription("List the consumer groups of a stream")
  )

const stats = Command.make("stats", {
  url,
  json,
  stream,
  group,
  watch: Options.boolean("watch").pipe(Options.withAlias("w"), Options.withDescription("Redraw every --interval until interrupted")),
  interval: duration("interval", "How often --watch refreshes (default 1s)")
}, ({ group, interval, json, stream, watch }) => {
  const once = Effect.flatMap(Groups.stats(stream, group), (stats) => {
    const text = Format.stats(stream, stats)
    return json
      ? Console.log(Format.json({ ...stats, delayed: { count: stats.delayed.count, nextDue: Option.getOrNull(stats.delayed.nextDue) } }))
      : Console.log(watch ? Format.frame(text, process.stdout.isTTY === true) : text)
  })
  return watch
    ? Effect.repeat(once, Schedule.spaced(Option.getOrElse(interval, () => "1 second"))).pipe(Effect.asVoid)
    : once
}).pipe(Command.withDescription("Show a consumer group's consumers, pending entries and unconsumed entries"))

const gc = Command.make("gc", {
  url,
  json,
  stream,
  group,
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Report the actions gc would take, changing nothing")),
  rebalanceIdle: duration("rebalance-idle", "Rebalance entries idle at least this long"),
  rebalanceDeliveries: positive("rebalance-deliveries", "Rebalance entries delivered at least this many times"),
  siblings: Options.choice("siblings", ["active", "all"]).pipe(
    Options.withDescription("Rebalance only to consumers that are not idle themselves (active, the default) or to all"),
    Options.optional
  ),
  distribution: Options.choice("distribution", ["random", "lra", "mra"]).pipe(
    Options.withDescription("How to choose the claimant: random (default), least or most recently active"),
    Options.optional
  ),
  noRebalance: Options.boolean("no-rebalance").pipe(Options.withDescription("Do not rebalance")),
  dlqIdle: duration("dlq-idle", "Dead-letter entries idle at least this long"),
  dlqDeliveries: positive("dlq-deliveries", "Dead-letter entries delivered at least this many times"),
  dlqStream: Options.text("dlq-stream").pipe(Options.withDescription("The dead-letter stream (default stream/dlq)"), Options.optional),
  noDlq: Options.boolean("no-dlq").pipe(Options.withDescription("Do not dead-letter")),
  deregisterIdle: duration("deregister-idle", "Remove consumers idle this long that hold no pending entry (default 10m)"),
  noDeregister: Options.boolean("no-deregister").pipe(Options.withDescription("Do not remove consumers"))
}, (flags) =>
  collectOptions(flags).pipe(
    Effect.flatMap((options) => Gc.collect(flags.stream, flags.group, options)),
    Effect.flatMap((actions) =>
      print(flags.json, actions, (actions) => Format.gcActions(actions, flags.dryRun)))
  )).pipe(
    Command.withDescription(
      "One gc pass over a group: dead-letter poison entries, rebalance entries of dead consumers, deregister idle " +
        "consumers. Each step keeps Gc.collect's default (rebalance: idle 60s, active siblings, random; dlq: 10 " +
        "deliveries to stream/dlq; deregister: idle 10m) unless you give flags for it: then the thresholds you give " +
        "replace the default ones (a threshold you leave out is not compared), and at least one is needed."
    )
  )

/**
 * A step's options from its flags: `undefined` (the library's default) when
 * none was given. Other flags of a step without a threshold are refused: the
 * step would never act.
 */
const stepOf = <Extra extends Record<string, unknown>>(
  step: string,
  idle: Option.Option<Duration.DurationInput>,
  deliveries: Option.Option<number>,
  extra: Extra
) => {
  const others = Object.keys(extra).filter((key) => extra[key] !== undefined)
  if (Option.isSome(idle) || Option.isSome(deliveries)) {
    return Effect.succeed({ idle: Option.getOrUndefined(idle), deliveries: Option.getOrUndefined(deliveries), ...extra })
  }
  return others.length === 0 ? Effect.succeed(undefined) : Effect.fail(RedisError.invalidArgument(
    "gc",
    `with ${others.join(" and ")} given, the ${step} step needs --${step}-idle or --${step}-deliveries (without a threshold it never acts)`
  ))
}

/** Only the steps given flags for, so the library's defaults apply to the rest. */
const collectOptions = (flags: {
  readonly dryRun: boolean
  readonly rebalanceIdle: Option.Option<Duration.DurationInput>
  readonly rebalanceDeliveries: Option.Option<number>
  readonly siblings: Option.Option<"active" | "all">
  readonly distribution: Option.Option<"random" | "lra" | "mra">
  readonly noRebalance: boolean
  readonly dlqIdle: Option.Option<Duration.DurationInput>
  readonly dlqDeliveries: Option.Option<number>
  readonly dlqStream: Option.Option<string>
  readonly noDlq: boolean
  readonly deregisterIdle: Option.Option<Duration.DurationInput>
  readonly noDeregister: boolean
}): Effect.Effect<Gc.CollectOptions, RedisError.RedisError> =>
  Effect.all({
    rebalance: flags.noRebalance ? Effect.succeed(false as const) : stepOf("rebalance", flags.rebalanceIdle, flags.rebalanceDeliveries, {
      siblings: Option.getOrUndefined(flags.siblings),
      distribution: Option.getOrUndefined(flags.distribution)
    }),
    dlq: flags.noDlq ? Effect.succeed(false as const) : stepOf("dlq", flags.dlqIdle, flags.dlqDeliveries, {
      stream: Option.getOrUndefined(flags.dlqStream)
    })
  }).pipe(Effect.map(({ dlq, rebalance }) => ({
    dryRun: flags.dryRun,
    rebalance,
    dlq,
    deregister: flags.noDeregister ? false : Option.match(flags.deregisterIdle, {
      onNone: () => undefined,
      onSome: (idle) => ({ idle })
    })
  })))

const dlqStream = Args.text({ name: "dlq" }).pipe(Args.withDescription("The dead-letter stream, e.g. stream/dlq"))
const count = positive("count", "At most this many entries")

/** Fails when `dlq` holds entries but none is a dead letter: it is some other stream. */
const requireDeadLetterStream = (dlq: string, letters: ReadonlyArray<Gc.DeadLetter>) =>
  letters.length > 0 ? Effect.void : Effect.flatMap(Streams.read(dlq, { count: 1 }), (entries) =>
    entries.length === 0
      ? Effect.void
      : Effect.fail(RedisError.invalidArgument("dlq list", `${dlq} is not a dead-letter stream: its entries are not dead letters`)))

const dlqList = Command.make("list", { url, json, dlq: dlqStream, count }, ({ count, dlq, json }) =>
  Effect.flatMap(Gc.deadLetters(dlq, { count: Option.getOrUndefined(count) }), (letters) =>
    Effect.zipRight(requireDeadLetterStream(dlq, letters), print(json, letters, Format.deadLetters)))).pipe(
    Command.withDescription("List the entries of a dead-letter stream with where they came from")
  )

const dlqRedrive = Command.make("redrive", {
  url,
  json,
  dlq: dlqStream,
  count,
  stream: Options.text("stream").pipe(Options.withDescription("Only entries that came from this stream"), Options.optional)
}, ({ count, dlq, json, stream }) =>
  Effect.flatMap(
    Gc.redrive(dlq, { stream: Option.getOrUndefined(stream), count: Option.getOrUndefined(count) }),
    (redriven) => print(json, redriven, (redriven) => `redrove ${redriven.length} entr${redriven.length === 1 ? "y" : "ies"}`)
  )).pipe(Command.withDescription("Put dead-lettered entries back on their origin stream and remove them from the DLQ"))

const dlq = Command.make("dlq").pipe(
  Command.withDescription("Inspect and redrive a dead-letter stream"),
  Command.withSubcommands([withRedis(dlqList), withRedis(dlqRedrive)])
)

/** The `match` argument as a prefix, or as a regular expression with `--regex`. */
const matcher = (match: string, regex: boolean): Effect.Effect<string | RegExp, RedisError.RedisError> =>
  regex
    ? Effect.try({
      try: () => new RegExp(match),
      catch: () => RedisError.invalidArgument("unblock", `${JSON.stringify(match)} is not a regular expression`)
    })
    : Effect.succeed(match)

const unblock = Command.make("unblock", {
  url,
  json,
  regex: Options.boolean("regex").pipe(Options.withDescription("Treat match as a regular expression tested against the names")),
  match: argWithDefault("match", "A prefix of the connection names to unblock", "consumer/")
}, ({ json, match, regex }) =>
  matcher(match, regex).pipe(
    Effect.flatMap(Consumer.unblock),
    Effect.flatMap((n) =>
      print(json, { unblocked: n }, ({ unblocked }) => `unblocked ${unblocked} consumer connection(s) matching ${match}`))
  )).pipe(
    Command.withDescription("Unblock (and so stop, with the default control) consumers whose connection name starts with match")
  )

const clearPending = Command.make("clear-pending", {
  url,
  json,
  stream,
  group,
  consumer: Args.text({ name: "consumer" }).pipe(Args.withDescription("Only this consumer's entries"), Args.optional)
}, ({ consumer, group, json, stream }) =>
  Effect.flatMap(Groups.clearPending(stream, group, Option.getOrUndefined(consumer)), (n) =>
    print(json, { acked: n }, ({ acked }) => `acked ${acked} pending entr${acked === 1 ? "y" : "ies"}`))).pipe(
    Command.withDescription("Acknowledge the pending entries of a group, or of one consumer (they are not processed)")
  )

/** `pause` or `resume`: the group's state changed, then printed. */
const pausing = (name: "pause" | "resume", description: string) =>
  Command.make(name, { url, json, stream, group }, ({ group, json, stream }) =>
    Effect.zipRight(
      name === "pause" ? Groups.pause(stream, group) : Groups.resume(stream, group),
      Effect.flatMap(Groups.isPaused(stream, group), (paused) =>
        print(json, { stream, group, paused }, () => `${group} of ${stream} is ${paused ? "paused" : "running"}`))
    )).pipe(Command.withDescription(description))

const pause = pausing(
  "pause",
  "Pause a consumer group in every process: its consumers finish what they handle, then read nothing until it is resumed"
)

const resume = pausing("resume", "Resume a paused consumer group: its consumers read again within about a second")

const dashboard = Command.make("dashboard", {
  url,
  port: Options.integer("port").pipe(
    Options.withDescription("The port to listen on (0: any free port)"),
    Options.withDefault(7890),
    Options.mapEffect((n) => (n >= 0 && n < 65_536 ? Effect.succeed(n) : invalid(`--port must be 0 to 65535, got ${n}`)))
  ),
  host: Options.text("host").pipe(
    Options.withDescription("The address to bind; other machines can connect only if not 127.0.0.1"),
    Options.withDefault("127.0.0.1")
  ),
  interval: duration("interval", "How often the page refreshes (default 1s)"),
  idle: duration("idle", "Mark consumers idle longer than this (default 60s)"),
  pattern: Options.text("pattern").pipe(Options.withDescription("Only stream keys matching this glob (default *)"), Options.optional),
  readOnly: Options.boolean("read-only").pipe(Options.withDescription("Refuse every write (redrive, gc) with 403")),
  allowedHost: Options.text("allowed-host").pipe(
    Options.withDescription("Also answer requests for this host name (repeatable); IP addresses and localhost always"),
    Options.repeated
  ),
  token: Options.redacted("token").pipe(
    Options.withDescription("Require this bearer token on /api/* (default: $DASHBOARD_TOKEN, if set; prefer it: a --token is visible to other users in the process list)"),
    Options.withFallbackConfig(Config.redacted("DASHBOARD_TOKEN")),
    Options.optional
  )
}, (flags) => {
  const token = Option.getOrUndefined(flags.token)
  return Effect.gen(function*() {
    if (process.argv.some((arg) => arg === "--token" || arg.startsWith("--token="))) {
      yield* Console.error("warning: --token is visible to other users of this machine (ps, /proc); set DASHBOARD_TOKEN instead")
    }
    yield* Console.log(`dashboard on ${yield* Dashboard.url(token)} (Ctrl-C to stop)`)
    return yield* Effect.never
  }).pipe(
    Effect.provide(Dashboard.layer({
      port: flags.port,
      host: flags.host,
      interval: Option.getOrUndefined(flags.interval),
      idle: Option.getOrUndefined(flags.idle),
      pattern: Option.getOrUndefined(flags.pattern),
      readOnly: flags.readOnly,
      allowedHosts: flags.allowedHost,
      token
    }))
  )
}).pipe(Command.withDescription("Serve a live web dashboard of streams, groups, consumers and dead letters"))

/**
 * The root command.
 *
 * @since 0.1.0
 * @category commands
 */
export const root = Command.make("effect-redis-streams").pipe(
  Command.withDescription("See and steer Redis Streams consumer groups"),
  Command.withSubcommands([
    withRedis(streams),
    withRedis(groups),
    withRedis(stats),
    withRedis(gc),
    dlq,
    withRedis(unblock),
    withRedis(clearPending),
    withRedis(pause),
    withRedis(resume),
    withRedis(dashboard)
  ])
)
