/**
 * `npm run demo`: the whole library at work on `stream/{sensors}readings`.
 *
 * With no `REDIS_URL` it starts its own `redis-server` (the test server:
 * free port, no persistence); otherwise it uses `REDIS_URL` (and deletes the
 * demo's two keys there first). Then:
 *
 * - creates the group and forks three consumers, supervised in a `FiberMap`;
 * - a producer writes a few thousand readings, some of them poison (the
 *   handler always fails on them);
 * - one consumer is interrupted mid-way and started again, another is
 *   stopped for good;
 * - `Gc.schedule` moves the poison to the dead-letter stream and rebalances
 *   the stopped consumer's entries to the live ones;
 * - a live table of the group's stats is redrawn every second (plain lines
 *   when stdout is not a terminal);
 * - the summary checks itself: every reading handled or dead-lettered,
 *   nothing pending. The process exits non-zero otherwise;
 * - the dashboard shows it all live (http://127.0.0.1:7890/, or another free
 *   port when that one is taken); in a terminal it stays up after the run
 *   until Ctrl-C.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Data, Duration, Effect, FiberMap, Layer, Logger, LogLevel, Ref, Schedule } from "effect"
import { pathToFileURL } from "node:url"
import { Dashboard } from "effect-redis-streams/dashboard"
import { Consumer, Gc, Groups, Naming, Redis, Streams } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

export const stream = Naming.streamName("readings", { hashTag: "sensors" })
export const group = Naming.groupName("persist-readings")
/** `stream/{sensors}dlq`: the stream's own dead-letter stream, as the dashboard finds it. */
export const dlq = Naming.dlqName(stream)
const consumers = [0, 1, 2].map((i) => Naming.consumerName("persist-readings", i))
const [restarted, stopped] = [consumers[0]!, consumers[1]!]

/** Milliseconds as seconds with one decimal: `12.3s`. */
const seconds = (ms: number): string => `${(ms / 1_000).toFixed(1)}s`

/** The group's stats as the table the demo redraws: a summary line, then one row per consumer. */
const statsTable = (stats: Groups.GroupStats, dead: number): string =>
  [
    `${stream} ${stats.name}  pending ${stats.pending}  unconsumed ${stats.unconsumed}  dlq ${dead}`,
    `${"CONSUMER".padEnd(32)}${"PENDING".padStart(8)}${"IDLE".padStart(10)}`,
    ...stats.consumers.map((c) => `${c.name.padEnd(32)}${String(c.pending).padStart(8)}${seconds(c.idle).padStart(10)}`)
  ].join("\n")

/** How the demo runs; the defaults are `npm run demo`'s. */
export interface Options {
  /** How many readings the producer writes. */
  readonly readings: number
  /** Every n-th reading is poison. */
  readonly poisonEvery: number
  /** `"tty"` redraws a table in place, `"plain"` prints a line per second. */
  readonly display: "tty" | "plain"
  /** Give up waiting for the group to drain after this long. */
  readonly deadline: Duration.DurationInput
  readonly write: (text: string) => Effect.Effect<void>
}

/** What the run did, for the self-check. */
export interface Outcome {
  readonly written: ReadonlyArray<string>
  readonly poison: ReadonlySet<string>
  readonly handled: ReadonlySet<string>
  readonly deadLettered: ReadonlySet<string>
  readonly pending: number
  readonly stoppedHeld: number
  readonly stoppedHolds: number
  readonly elapsed: Duration.Duration
}

/** The problems with an outcome; none means the demo succeeded. */
export const check = (outcome: Outcome): ReadonlyArray<string> => {
  const lost = outcome.written.filter((id) => !outcome.handled.has(id) && !outcome.deadLettered.has(id))
  const poisonHandled = [...outcome.poison].filter((id) => outcome.handled.has(id))
  return [
    ...(lost.length > 0 ? [`${lost.length} reading(s) neither handled nor dead-lettered (first: ${lost[0]})`] : []),
    ...(poisonHandled.length > 0 ? [`${poisonHandled.length} poison reading(s) reported as handled`] : []),
    ...(outcome.pending > 0 ? [`${outcome.pending} entr(ies) still pending`] : [])
  ]
}

/** The summary lines of an outcome. */
export const summary = (outcome: Outcome): ReadonlyArray<string> => {
  const problems = check(outcome)
  const healthyDead = [...outcome.deadLettered].filter((id) => !outcome.poison.has(id)).length
  return [
    "",
    "Summary",
    `  readings written   ${outcome.written.length} (${outcome.poison.size} poison)`,
    `  handled            ${outcome.handled.size}`,
    `  dead-lettered      ${outcome.deadLettered.size} (${outcome.deadLettered.size - healthyDead} poison, ${healthyDead} healthy)`,
    `  pending            ${outcome.pending}`,
    `  ${stopped} stopped holding ${outcome.stoppedHeld} pending, now holds ${outcome.stoppedHolds} (rebalanced by gc)`,
    `  took               ${seconds(Duration.toMillis(outcome.elapsed))}`,
    ...(problems.length === 0
      ? ["OK: every reading was handled or dead-lettered, and nothing is pending"]
      : problems.map((problem) => `FAILED: ${problem}`))
  ]
}

class UnreadableReading extends Data.TaggedError("UnreadableReading")<{ readonly id: string }> {}

const reading = (i: number, poisonEvery: number) => ({
  sensor: `sensor-${i % 5}`,
  value: i % poisonEvery === poisonEvery - 1 ? "poison" : (18 + ((i * 7) % 100) / 10).toFixed(1)
})

/** Runs the story against the `Redis` in context and returns its outcome. */
export const demo = (options: Options) =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const started = Date.now()
    yield* redis.send("DEL", [stream, dlq])
    yield* Groups.create(stream, group, { from: "0" })

    const handled = yield* Ref.make(new Set<string>())
    const produced = yield* Ref.make(0)
    const events = yield* Ref.make<ReadonlyArray<string>>([])
    const event = (text: string) =>
      Effect.zipRight(
        Ref.update(events, (all) => [...all, `${seconds(Date.now() - started)}  ${text}`]),
        options.display === "plain" ? options.write(text) : Effect.void
      )

    // The handler: a reading is stored (here: remembered), poison always fails.
    const handler = (message: Consumer.StreamMessage) =>
      message.fields["value"] === "poison"
        ? Effect.fail(new UnreadableReading({ id: message.id }))
        : Effect.zipRight(Effect.sleep("1 millis"), Ref.update(handled, (set) => set.add(message.id)))

    // Handler failures are expected here (the poison): recur quietly; the rest as by default.
    const control = (event: Consumer.ControlEvent) =>
      event._tag === "HandlerFailed" ? Effect.succeed(Consumer.Control.Recur()) : Consumer.defaultControl(event)

    const consume = (consumer: string) => Consumer.run({ stream, group, consumer, handler, control, block: "300 millis", count: 20 })

    const fibers = yield* FiberMap.make<string>()
    for (const consumer of consumers) yield* FiberMap.run(fibers, consumer, consume(consumer))

    yield* Gc.schedule(stream, group, {
      rebalance: { idle: "2 seconds" },
      dlq: { deliveries: 4, stream: dlq },
      deregister: false
    }, Schedule.spaced("500 millis")).pipe(Effect.forkScoped)

    const render = Effect.gen(function*() {
      const stats = yield* Groups.stats(stream, group)
      const dead = Number(yield* redis.send("XLEN", [dlq]))
      const progress = `produced ${yield* Ref.get(produced)}/${options.readings}  handled ${(yield* Ref.get(handled)).size}`
      if (options.display === "plain") {
        return yield* options.write(
          `[${seconds(Date.now() - started)}] ${progress}  dlq ${dead}  pending ${stats.pending}  unconsumed ${stats.unconsumed}  consumers ${stats.consumers.length}`
        )
      }
      const title = `effect-redis-streams demo  ${seconds(Date.now() - started)}  ${progress}`
      // move the cursor home and clear the screen, then draw
      yield* options.write(`\x1b[H\x1b[2J${[title, "", statsTable(stats, dead), "", ...(yield* Ref.get(events))].join("\n")}`)
    })
    yield* render.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)

    // The producer, with the story's two interventions on the way.
    const batch = 100
    const written: Array<string> = []
    const poison = new Set<string>()
    let stoppedHeld = 0
    for (let from = 0; from < options.readings; from += batch) {
      const records = Array.from({ length: Math.min(batch, options.readings - from) }, (_, k) => reading(from + k, options.poisonEvery))
      const ids = yield* Streams.xaddAll(stream, records)
      ids.forEach((id, k) => {
        written.push(id)
        if (records[k]!.value === "poison") poison.add(id)
      })
      yield* Ref.set(produced, written.length)
      const before = from / options.readings
      const after = (from + batch) / options.readings
      if (before < 1 / 3 && after >= 1 / 3) {
        yield* FiberMap.remove(fibers, restarted)
        yield* event(`interrupted ${restarted}`)
        yield* Effect.sleep("500 millis")
        yield* FiberMap.run(fibers, restarted, consume(restarted))
        yield* event(`restarted ${restarted}: it reads its own pending entries first`)
      }
      if (before < 2 / 3 && after >= 2 / 3) {
        yield* FiberMap.remove(fibers, stopped)
        const stats = yield* Groups.stats(stream, group)
        stoppedHeld = stats.consumers.find((consumer) => consumer.name === stopped)?.pending ?? 0
        yield* event(`stopped ${stopped} for good, holding ${stoppedHeld} pending entries: gc will rebalance them`)
      }
      yield* Effect.sleep("30 millis")
    }
    yield* event(`producer done: ${written.length} readings, ${poison.size} poison`)

    // Wait until the group has drained: everything handled or dead-lettered, nothing pending.
    const deadLettered = Effect.map(Gc.deadLetters(dlq), (letters) => new Set(letters.map((letter) => letter.id)))
    const snapshot = Effect.gen(function*() {
      const stats = yield* Groups.stats(stream, group)
      return {
        written,
        poison,
        handled: new Set(yield* Ref.get(handled)),
        deadLettered: yield* deadLettered,
        pending: stats.pending,
        stoppedHeld,
        stoppedHolds: stats.consumers.find((consumer) => consumer.name === stopped)?.pending ?? 0,
        elapsed: Duration.millis(Date.now() - started)
      } satisfies Outcome
    })
    const deadline = Date.now() + Duration.toMillis(options.deadline)
    let outcome = yield* snapshot
    while (check(outcome).length > 0 && Date.now() < deadline) {
      yield* Effect.sleep("200 millis")
      outcome = yield* snapshot
    }
    yield* render
    yield* FiberMap.clear(fibers)
    return outcome
  }).pipe(Effect.scoped)

/** The dashboard on port 7890, or on any free port when 7890 is taken. */
const dashboard = Dashboard.layer({ port: 7890, pattern: "stream/{sensors}*" }).pipe(
  Layer.orElse(() => Dashboard.layer({ port: 0, pattern: "stream/{sensors}*" }))
)

/** `npm run demo`. */
export const main = Effect.gen(function*() {
  const server = yield* RedisTest.RedisTest
  yield* Console.log(`Redis at ${server.url}${process.env["REDIS_URL"] ? " (REDIS_URL)" : " (a redis-server of our own)"}`)
  const url = yield* Dashboard.url()
  yield* Console.log(`Dashboard at ${url}: open it to watch the run live`)
  const tty = process.stdout.isTTY === true
  const outcome = yield* demo({
    readings: 3000,
    poisonEvery: 100,
    display: tty ? "tty" : "plain",
    deadline: "45 seconds",
    write: (text) => Console.log(text)
  })
  for (const line of summary(outcome)) yield* Console.log(line)
  if (check(outcome).length > 0) return yield* Effect.fail("the demo's self-check failed")
  if (tty) {
    yield* Console.log(`The dashboard stays up at ${url} (the dead letters are there to redrive): Ctrl-C to end`)
    return yield* Effect.never
  }
}).pipe(
  // Gc.schedule logs a summary of every pass at info level: keep the screen for the table.
  Logger.withMinimumLogLevel(LogLevel.Warning),
  Effect.provide(dashboard.pipe(Layer.provideMerge(RedisTest.layer())))
)

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main.pipe(
    Effect.catchAll((error) =>
      Effect.zipRight(
        Console.error(`demo: ${typeof error === "string" ? error : error.message}`),
        Effect.sync(() => (process.exitCode = 1))
      )
    ),
    NodeRuntime.runMain
  )
}
