/**
 * What a bench scenario is: a setup run in the harness process (seeding the
 * stream, not timed) and a timed run, usually in a child process of its own
 * so that its peak RSS is its own.
 */
import { Data, Effect, Schema } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { GCProfiler } from "node:v8"

/** A failure of the bench itself (a scenario that did not handle what it should, a child that crashed). */
export class BenchError extends Data.TaggedError("BenchError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The knobs: `count` and `concurrency` of the "tuned" library scenarios, the live producer's rate (0: unpaced). */
export const Tuning = Schema.Struct({
  count: Schema.Number,
  concurrency: Schema.Number,
  rate: Schema.Number
})
export type Tuning = typeof Tuning.Type

/** Everything a scenario needs to know; serialised to the child process. */
export const Ctx = Schema.Struct({
  url: Schema.String,
  stream: Schema.String,
  group: Schema.String,
  n: Schema.Number,
  tuning: Tuning
})
export type Ctx = typeof Ctx.Type

/** What a timed run reports. `extra` carries scenario-specific figures (latency percentiles). */
export const Measured = Schema.Struct({
  handled: Schema.Number,
  seconds: Schema.Number,
  extra: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number }))
})
export type Measured = typeof Measured.Type

export interface Scenario {
  readonly name: string
  readonly description: string
  /** The scenario whose entries/s is the denominator of `ratio_to_raw`. */
  readonly baseline: string | undefined
  /** The scenario whose entries/s is the denominator of `ratio_to_limit` (the server-side limit), if any. */
  readonly limit?: string | undefined
  readonly size: { readonly full: number; readonly quick: number }
  /** Node flags of the child process (ignored in-process), e.g. a heap cap. */
  readonly execArgv?: ReadonlyArray<string> | undefined
  readonly setup: (ctx: Ctx) => Effect.Effect<void, BenchError>
  readonly run: (ctx: Ctx) => Effect.Effect<Measured, unknown>
}

/** A promise-returning step as an Effect failing with `BenchError`. */
export const promise = <A>(what: string, thunk: () => Promise<A>): Effect.Effect<A, BenchError> =>
  Effect.tryPromise({ try: thunk, catch: (cause) => new BenchError({ message: `${what}: ${String(cause)}`, cause }) })

/** Wall-clock milliseconds, with sub-millisecond precision, comparable across processes. */
export const nowMs = (): number => performance.timeOrigin + performance.now()

/** Runs the effect and reports how long it took in seconds. */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [number, A], E, R> =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.map(effect, (a) => [(performance.now() - start) / 1000, a] as const)
  })

/** Fails unless the run handled exactly `n` entries: a bench that lost or doubled work measures nothing. */
export const checkHandled = (name: string, n: number) => (measured: Measured): Effect.Effect<Measured, BenchError> =>
  measured.handled === n
    ? Effect.succeed(measured)
    : Effect.fail(new BenchError({ message: `${name}: handled ${measured.handled} of ${n}` }))

/** The payload of every bench entry: three fields, like the figures. */
export const PAYLOAD = "x".repeat(48)

export const RESULT = "BENCH_RESULT "

/** The child's report: the measurement, its own peak RSS, its RSS when the timed run began, and the bytes it allocated. */
export const ChildResult = Schema.Struct({
  measured: Measured,
  peak_rss_mb: Schema.Number,
  start_rss_mb: Schema.Number,
  allocated_bytes: Schema.Number
})
export type ChildResult = typeof ChildResult.Type

const statusMb = (field: "VmHWM" | "VmRSS"): number | undefined => {
  try {
    const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync("/proc/self/status", "utf8"))?.[1]
    return kb === undefined ? undefined : Number(kb) / 1024
  } catch {
    return undefined // not Linux
  }
}

/**
 * Peak resident set size of this process since the last reset, in MB:
 * Linux's VmHWM (getrusage's maxRSS would count the parent's memory a child
 * was forked with, and cannot be reset); maxRSS elsewhere.
 */
export const peakRssMb = (): number => statusMb("VmHWM") ?? process.resourceUsage().maxRSS / 1024

/** Resident set size now, in MB. */
export const rssMb = (): number => statusMb("VmRSS") ?? process.memoryUsage.rss() / 1024 / 1024

/**
 * Resets the process's peak RSS to its current RSS (Linux ≥ 4.0: writing 5
 * to /proc/self/clear_refs), so the next peak is the next run's own.
 */
const resetPeakRss = (): void => {
  try {
    writeFileSync("/proc/self/clear_refs", "5")
  } catch {
    // not Linux: the peak is the process's
  }
}

/**
 * The bytes allocated on the heap while `effect` runs, from the heap's used
 * size around each garbage collection (what every collection freed, plus
 * the growth since the last one): cheap enough to run with every timed run.
 */
const allocating = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<readonly [A, number], E> =>
  Effect.suspend(() => {
    const profiler = new GCProfiler()
    const startUsed = process.memoryUsage().heapUsed
    profiler.start()
    return Effect.map(effect, (a) => {
      const endUsed = process.memoryUsage().heapUsed
      const statistics = profiler.stop()?.statistics ?? []
      let allocated = 0
      let after = startUsed
      for (const gc of statistics) {
        allocated += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - after)
        after = gc.afterGC.heapStatistics.usedHeapSize
      }
      allocated += Math.max(0, endUsed - after)
      return [a, allocated] as const
    })
  })

/** Runs a scenario and reports its measurement with the process's peak RSS and the bytes allocated during the run. */
export const measureRun = (scenario: Scenario, ctx: Ctx): Effect.Effect<ChildResult, unknown> =>
  Effect.suspend(() => {
    resetPeakRss()
    const start_rss_mb = rssMb()
    return Effect.map(
      allocating(scenario.run(ctx)),
      ([measured, allocated_bytes]) => ({ measured, peak_rss_mb: peakRssMb(), start_rss_mb, allocated_bytes })
    )
  })

/** The line a child prints for its parent. */
export const resultLine = (result: ChildResult): string => RESULT + JSON.stringify(Schema.encodeSync(ChildResult)(result))
