/**
 * One scenario's timed run in a process of its own, so that the peak RSS it
 * reports is that scenario's:
 * `node .bench-build/child.mjs <module> <scenario> <ctx json>` (bundled by the runner).
 * Prints one `BENCH_RESULT {…}` line for the parent. With `BENCH_CPU_PROFILE`
 * set, the timed run's CPU profile is written to that file; with
 * `BENCH_HEAP_PROFILE`, a sampling heap profile of everything the timed run
 * allocated (collected objects included), for `bench/heapProfile.ts`.
 */
import { Cause, Console, Effect, Exit, Schema } from "effect"
import { mkdir, writeFile } from "node:fs/promises"
import { Session } from "node:inspector/promises"
import { dirname } from "node:path"
import { BenchError, Ctx, measureRun, resultLine } from "./scenario.js"
import { modules } from "./scenarios.js"

/** Records only the timed run (not module loading) with an inspector session, writing what `stop` returns to `file`. */
const recorded = <A, E>(
  file: string,
  effect: Effect.Effect<A, E>,
  start: (session: Session) => Promise<unknown>,
  stop: (session: Session) => Promise<unknown>
) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const session = new Session()
      session.connect()
      await start(session)
      return session
    }),
    () => effect,
    (session) =>
      Effect.promise(async () => {
        const profile = await stop(session)
        await mkdir(dirname(file), { recursive: true })
        await writeFile(file, JSON.stringify(profile))
        session.disconnect()
      })
  )

const cpuProfiled = <A, E>(file: string, effect: Effect.Effect<A, E>) =>
  recorded(file, effect, async (session) => {
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: 100 })
    await session.post("Profiler.start")
  }, async (session) => (await session.post("Profiler.stop")).profile)

const heapProfiled = <A, E>(file: string, effect: Effect.Effect<A, E>) =>
  recorded(file, effect, async (session) => {
    await session.post("HeapProfiler.enable")
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true
    })
  }, async (session) => (await session.post("HeapProfiler.stopSampling")).profile)

const main = Effect.gen(function*() {
  const [module, name, json] = process.argv.slice(2)
  const load = module === undefined ? undefined : modules[module]
  const scenarios = load === undefined ? [] : (yield* Effect.promise(load)).scenarios
  const scenario = scenarios.find((s) => s.name === name)
  if (scenario === undefined || json === undefined) {
    return yield* new BenchError({ message: `usage: child.ts <module> <scenario> <ctx json>; no scenario ${module}:${name}` })
  }
  const ctx = yield* Schema.decode(Schema.parseJson(Ctx))(json)
  const cpu = process.env["BENCH_CPU_PROFILE"]
  const heap = process.env["BENCH_HEAP_PROFILE"]
  const run = measureRun(scenario, ctx)
  const result = yield* (cpu !== undefined ? cpuProfiled(cpu, run) : heap !== undefined ? heapProfiled(heap, run) : run)
  yield* Console.log(resultLine(result))
})

Effect.runPromiseExit(main).then((exit) => {
  if (Exit.isFailure(exit)) console.error(Cause.pretty(exit.cause))
  // Leftover client handles (BullMQ's) must not keep the child alive.
  process.exit(Exit.isSuccess(exit) ? 0 : 1)
})
