/**
 * The hot spots of a `--cpu-prof` profile: self time per function and per
 * package, e.g. after `npm run bench -- --only drain/library-default --profile`:
 * `npx tsx bench/profile.ts <file.cpuprofile> [top]`.
 */
import { Console, Effect, Schema } from "effect"
import { NodeRuntime } from "@effect/platform-node"
import { readFileSync } from "node:fs"
import { origin, short } from "./frames.js"

const Profile = Schema.Struct({
  nodes: Schema.Array(Schema.Struct({
    id: Schema.Number,
    callFrame: Schema.Struct({ functionName: Schema.String, url: Schema.String, lineNumber: Schema.Number }),
    children: Schema.optional(Schema.Array(Schema.Number))
  })),
  samples: Schema.Array(Schema.Number),
  timeDeltas: Schema.Array(Schema.Number)
})

const top = (times: Map<string, number>, total: number, count: number) =>
  [...times].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, us]) =>
    `${(100 * us / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`
  )

const main = Effect.gen(function*() {
  const [file, count = "25"] = process.argv.slice(2)
  if (file === undefined) return yield* Console.error("usage: profile.ts <file.cpuprofile> [top]")
  const profile = yield* Schema.decode(Schema.parseJson(Profile))(readFileSync(file, "utf8"))
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const nameOf = (frame: { functionName: string; url: string; lineNumber: number }) =>
    `${frame.functionName || "(anonymous)"} ${short(frame.url)}:${frame.lineNumber + 1}`
  const byFunction = new Map<string, number>()
  const byOrigin = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)
    const delta = profile.timeDeltas[i] ?? 0
    if (frame === undefined || frame.functionName === "(idle)") return
    total += delta
    const name = nameOf(frame)
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta)
    byOrigin.set(origin(frame.url), (byOrigin.get(origin(frame.url)) ?? 0) + delta)
    // Inclusive time of the project's own functions (src/, bench/) on this sample's stack, each once.
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const caller = byId.get(at)
      if (caller === undefined || !/^(src|bench)\//.test(origin(caller.url))) continue
      const callerName = nameOf(caller)
      if (!seen.has(callerName)) inclusive.set(callerName, (inclusive.get(callerName) ?? 0) + delta)
      seen.add(callerName)
    }
  })
  yield* Console.log(`busy ${(total / 1000).toFixed(0)} ms (idle excluded)\n\nself time by function:`)
  for (const line of top(byFunction, total, Number(count))) yield* Console.log(line)
  yield* Console.log("\nself time by package / file:")
  for (const line of top(byOrigin, total, 15)) yield* Console.log(line)
  yield* Console.log("\ninclusive time of the project's functions (by line of definition):")
  for (const line of top(inclusive, total, Number(count))) yield* Console.log(line)
})

NodeRuntime.runMain(main)
