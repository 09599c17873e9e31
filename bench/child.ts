/**
 * One scenario's timed run in a process of its own, so that the peak RSS it
 * reports is that scenario's:
 * `node --import tsx bench/child.ts <module> <scenario> <ctx json>`.
 * Prints one `BENCH_RESULT {…}` line for the parent.
 */
import { Cause, Console, Effect, Exit, Schema } from "effect"
import { BenchError, Ctx, measureRun, resultLine } from "./scenario.js"
import { modules } from "./scenarios.js"

const main = Effect.gen(function*() {
  const [module, name, json] = process.argv.slice(2)
  const load = module === undefined ? undefined : modules[module]
  const scenarios = load === undefined ? [] : (yield* Effect.promise(load)).scenarios
  const scenario = scenarios.find((s) => s.name === name)
  if (scenario === undefined || json === undefined) {
    return yield* new BenchError({ message: `usage: child.ts <module> <scenario> <ctx json>; no scenario ${module}:${name}` })
  }
  const ctx = yield* Schema.decode(Schema.parseJson(Ctx))(json)
  yield* Console.log(resultLine(yield* measureRun(scenario, ctx)))
})

Effect.runPromiseExit(main).then((exit) => {
  if (Exit.isFailure(exit)) console.error(Cause.pretty(exit.cause))
  // Leftover client handles (BullMQ's) must not keep the child alive.
  process.exit(Exit.isSuccess(exit) ? 0 : 1)
})
