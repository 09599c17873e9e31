/**
 * Runs the scenarios against one Redis server: setup in this process, the
 * timed part in a child process of its own (see `isolate`), one row each.
 */
import { Command } from "@effect/platform"
import { Effect, Schema, Stream } from "effect"
import { build } from "esbuild"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { withClient } from "./raw.js"
import type { Ctx, Scenario, Tuning } from "./scenario.js"
import { BenchError, checkHandled, ChildResult, measureRun, promise, RESULT, timed } from "./scenario.js"
import type { Located } from "./scenarios.js"
import { all } from "./scenarios.js"

export interface Options {
  readonly url: string
  readonly quick: boolean
  /** Overrides every scenario's size. */
  readonly n?: number | undefined
  readonly skipBullmq: boolean
  /** Run only scenarios whose name starts with one of these. */
  readonly only?: ReadonlyArray<string> | undefined
  readonly tuning: Tuning
  /**
   * Which timed runs get a child process of their own: `"all"` (every peak
   * RSS is the scenario's own), `"memory"` (only the memory scenarios; the
   * others run here, their peak measured from a reset of this process's
   * high-water mark), `"none"`.
   */
  readonly isolate: "all" | "memory" | "none"
  /** Write a CPU profile of each child's timed run to `<profileDir>/<scenario>.cpuprofile`. */
  readonly profileDir?: string | undefined
  /** Write a sampling heap profile of each child's timed run to `<heapProfileDir>/<scenario>.heapprofile`. */
  readonly heapProfileDir?: string | undefined
}

export interface Row {
  readonly name: string
  readonly n: number
  readonly seconds: number
  readonly per_s: number
  readonly ratio_to_raw: number | null
  /** Entries/s against the scenario's server-side limit (`Scenario.limit`). */
  readonly ratio_to_limit: number | null
  /** Bytes allocated on the heap per entry handled, during the timed run. */
  readonly bytes_per_entry: number
  readonly peak_rss_mb: number
  /** RSS when the timed run began (Node, Effect and ioredis already in). */
  readonly start_rss_mb: number
  readonly extra: Readonly<Record<string, number>>
  /** Wall-clock seconds of the untimed setup and of the whole run (with the child's start-up). */
  readonly wall: { readonly setup: number; readonly run: number }
}

const childPath = fileURLToPath(new URL("./child.ts", import.meta.url))
const childBundle = fileURLToPath(new URL("../.bench-build/child.mjs", import.meta.url))

/**
 * Bundles the child with esbuild (dependencies left external), so children
 * run plain JavaScript: under the tsx loader every child would carry ~70 MB
 * of transpiler in its peak RSS, which is no cost of the library. Each
 * scenario module is a chunk of its own (`splitting`), loaded only by the
 * child that runs it: in one file, every module's imports (BullMQ, and
 * @effect/platform-node for the live producer: ~55 MB) would be loaded by
 * every child.
 */
const bundleChild = promise("esbuild", () =>
  build({
    entryPoints: [childPath],
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    packages: "external",
    outdir: dirname(childBundle),
    outExtension: { ".js": ".mjs" },
    logLevel: "warning"
  })
)

const runChild = ({ module, scenario }: Located, ctx: Ctx, options: Options) =>
  Effect.gen(function*() {
    const file = scenario.name.replace("/", "-")
    const profile = {
      ...(options.profileDir === undefined ? {} : { BENCH_CPU_PROFILE: join(options.profileDir, `${file}.cpuprofile`) }),
      ...(options.heapProfileDir === undefined ? {} : { BENCH_HEAP_PROFILE: join(options.heapProfileDir, `${file}.heapprofile`) })
    }
    const command = Command.make(process.execPath, ...(scenario.execArgv ?? []), childBundle, module, scenario.name, JSON.stringify(ctx)).pipe(
      Command.env(profile),
      Command.stderr("inherit")
    )
    const child = yield* Command.start(command)
    const [output, exitCode] = yield* Effect.all(
      [Stream.runFold(Stream.decodeText(child.stdout), "", (all, chunk) => all + chunk), child.exitCode],
      { concurrency: 2 }
    )
    const lines = output.split("\n")
    for (const line of lines) if (line !== "" && !line.startsWith(RESULT)) process.stderr.write(`  [${scenario.name}] ${line}\n`)
    const result = lines.find((line) => line.startsWith(RESULT))
    if (exitCode !== 0 || result === undefined) {
      return yield* new BenchError({ message: `${scenario.name}: the child process exited with ${exitCode}` })
    }
    return yield* Schema.decode(Schema.parseJson(ChildResult))(result.slice(RESULT.length))
  }).pipe(Effect.scoped)

const inChild = (scenario: Scenario, options: Options): boolean =>
  options.isolate === "all" || (options.isolate === "memory" && scenario.name.startsWith("memory/"))

const sizeOf = (scenario: Scenario, options: Options): number =>
  options.n ?? (options.quick ? scenario.size.quick : scenario.size.full)

/** The scenarios the options select, in run order (baselines first). */
export const selected = (options: Options): Effect.Effect<ReadonlyArray<Located>> =>
  Effect.map(Effect.promise(all), (located) => located.filter(({ scenario }) =>
    !(options.skipBullmq && scenario.name.startsWith("bullmq/")) &&
    (options.only === undefined || options.only.some((prefix) => scenario.name.startsWith(prefix)))
  ))

const flush = (url: string) => withClient(url, (client) => promise("FLUSHALL", () => client.flushall()))

/** Runs one scenario on a fresh stream and returns its row (ratio filled in by {@link run}). */
const runOne = (located: Located, options: Options) =>
  Effect.gen(function*() {
    const scenario = located.scenario
    const ctx: Ctx = {
      url: options.url,
      stream: `stream/bench-${scenario.name.replace("/", "-")}`,
      group: "group/bench",
      n: sizeOf(scenario, options),
      tuning: options.tuning
    }
    yield* flush(options.url)
    const [setupSeconds] = yield* timed(scenario.setup(ctx))
    const [runSeconds, result] = yield* timed(inChild(scenario, options) ? runChild(located, ctx, options) : measureRun(scenario, ctx)).pipe(
      Effect.timeoutFail({
        duration: "10 minutes",
        onTimeout: () => new BenchError({ message: `${scenario.name}: no result in 10 minutes` })
      })
    )
    yield* checkHandled(scenario.name, ctx.n)(result.measured)
    return { ...result, setupSeconds, runSeconds }
  })

const round = (value: number, digits: number) => Number(value.toFixed(digits))

/**
 * Runs the selected scenarios one after another; `report` sees each row as
 * soon as it is measured.
 */
export const run = <E, R>(options: Options, report: (row: Row) => Effect.Effect<void, E, R>) =>
  Effect.gen(function*() {
    const rows: Array<Row> = []
    const scenarios = yield* selected(options)
    if (scenarios.some(({ scenario }) => inChild(scenario, options))) yield* bundleChild
    for (const located of scenarios) {
      const scenario = located.scenario
      const { allocated_bytes, measured, peak_rss_mb, runSeconds, setupSeconds, start_rss_mb } = yield* runOne(located, options)
      const perS = measured.handled / measured.seconds
      const base = rows.find((row) => row.name === scenario.baseline)
      const limit = rows.find((row) => row.name === scenario.limit)
      const row: Row = {
        name: scenario.name,
        n: measured.handled,
        seconds: round(measured.seconds, 3),
        per_s: Math.round(perS),
        ratio_to_raw: base === undefined ? null : round(perS / base.per_s, 2),
        ratio_to_limit: limit === undefined ? null : round(perS / limit.per_s, 2),
        bytes_per_entry: Math.round(allocated_bytes / Math.max(1, measured.handled)),
        peak_rss_mb: round(peak_rss_mb, 1),
        start_rss_mb: round(start_rss_mb, 1),
        extra: measured.extra ?? {},
        wall: { setup: round(setupSeconds, 2), run: round(runSeconds, 2) }
      }
      rows.push(row)
      yield* report(row)
    }
    yield* flush(options.url)
    return rows as ReadonlyArray<Row>
  })
