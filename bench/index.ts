/**
 * `npm run bench [-- --quick] [--n N] [--skip-bullmq] [--only drain/,gc/]
 *   [--count 1000] [--concurrency 1] [--rate 10000] [--isolate all|memory|none] [--profile [dir]] [--heap-profile [dir]]`
 *
 * Spawns a private redis-server on a free port, runs every scenario on a
 * fresh stream (the hand-written ioredis baselines in the same run), prints
 * one JSON line per scenario as it finishes, then one table and the targets.
 */
import { Command } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { RedisTest } from "../src/testing/index.js"
import { table, targets } from "./report.js"
import type { Options } from "./runner.js"
import { run } from "./runner.js"
import { BenchError } from "./scenario.js"

type Flags = Omit<Options, "url">

const isolation = (value: string | undefined): Options["isolate"] => {
  if (value === "all" || value === "memory" || value === "none") return value
  throw new Error(`--isolate takes all, memory or none, got ${String(value)}`)
}

const parse = (argv: ReadonlyArray<string>): Effect.Effect<Flags, BenchError> =>
  Effect.suspend(() => {
    const tuning = { count: 1000, concurrency: 1, rate: 10_000 }
    const flags: { quick: boolean; skipBullmq: boolean; isolate: Options["isolate"] | undefined } = {
      quick: false,
      skipBullmq: false,
      isolate: undefined
    }
    let n: number | undefined
    let only: ReadonlyArray<string> | undefined
    let profileDir: string | undefined
    let heapProfileDir: string | undefined
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!
      const dir = (fallback: string) => argv[i + 1]?.startsWith("--") === false ? argv[++i]! : join(tmpdir(), fallback)
      const value = (min = 1) => {
        const next = argv[++i]
        const number = Number(next)
        if (next === undefined || !Number.isInteger(number) || number < min) throw new Error(`${arg} takes a whole number ≥ ${min}`)
        return number
      }
      if (arg === "--quick") flags.quick = true
      else if (arg === "--skip-bullmq") flags.skipBullmq = true
      else if (arg === "--isolate") flags.isolate = isolation(argv[++i])
      else if (arg === "--n") n = value()
      else if (arg === "--count") tuning.count = value()
      else if (arg === "--concurrency") tuning.concurrency = value()
      else if (arg === "--rate") tuning.rate = value(0)
      else if (arg === "--only") only = (argv[++i] ?? "").split(",").filter((s) => s !== "")
      else if (arg === "--profile") profileDir = dir("effect-redis-streams-profiles")
      else if (arg === "--heap-profile") heapProfileDir = dir("effect-redis-streams-heap-profiles")
      else throw new Error(`unknown option ${arg}`)
    }
    // Quick runs start a child only where memory is the point: child start-up dominates them.
    return Effect.succeed({ ...flags, tuning, isolate: flags.isolate ?? (flags.quick ? "memory" : "all"), n, only, profileDir, heapProfileDir })
  }).pipe(Effect.catchAllDefect((cause) => new BenchError({ message: String(cause) })))

const main = Effect.gen(function*() {
  const flags = yield* parse(process.argv.slice(2))
  const server = yield* RedisTest.server()
  const version = yield* Command.string(Command.make(process.env["REDIS_SERVER_BIN"] ?? "redis-server", "--version"))
  yield* Console.error(`redis-server on port ${server.port} (${version.trim()}), node ${process.version}`)
  const rows = yield* run({ ...flags, url: server.url }, (row) =>
    Console.error(`  ${row.name}: setup ${row.wall.setup} s, run ${row.wall.run} s (wall clock)`).pipe(Effect.zipRight(Console.log(JSON.stringify({
      name: row.name,
      n: row.n,
      seconds: row.seconds,
      per_s: row.per_s,
      ratio_to_raw: row.ratio_to_raw,
      peak_rss_mb: row.peak_rss_mb,
      start_rss_mb: row.start_rss_mb,
      ...row.extra
    })))))
  if (flags.profileDir !== undefined) yield* Console.error(`CPU profiles in ${flags.profileDir}`)
  if (flags.heapProfileDir !== undefined) yield* Console.error(`heap profiles in ${flags.heapProfileDir} (npx tsx bench/heapProfile.ts <file> <n>)`)
  yield* Console.log(`\n${table(rows)}\n`)
  for (const line of targets(rows)) yield* Console.log(line)
})

NodeRuntime.runMain(main.pipe(Effect.scoped, Effect.provide(NodeContext.layer)))
