/**
 * What a timed run allocated, from a sampling heap profile written by
 * `npm run bench -- --only memory/library-drain --heap-profile [dir]`:
 * `npx tsx bench/heapProfile.ts <file.heapprofile> <entries> [top]` prints
 * the bytes allocated in all and per entry (collected objects included),
 * and the functions and packages that allocated them.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { origin, short } from "./frames.js"

interface Node {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<Node>
}

const Node: Schema.Schema<Node> = Schema.Struct({
  callFrame: Schema.Struct({ functionName: Schema.String, url: Schema.String, lineNumber: Schema.Number }),
  selfSize: Schema.Number,
  children: Schema.Array(Schema.suspend(() => Node))
})

const Profile = Schema.Struct({ head: Node })

const add = (map: Map<string, number>, key: string, bytes: number) => map.set(key, (map.get(key) ?? 0) + bytes)

const top = (bytes: Map<string, number>, total: number, entries: number, count: number) =>
  [...bytes].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, size]) =>
    `${(100 * size / total).toFixed(1).padStart(5)} %  ${(size / entries).toFixed(0).padStart(6)} B/entry  ${name}`
  )

const main = Effect.gen(function*() {
  const [file, entriesArg, count = "25"] = process.argv.slice(2)
  const entries = Number(entriesArg)
  if (file === undefined || !(entries > 0)) return yield* Console.error("usage: heapProfile.ts <file.heapprofile> <entries> [top]")
  const { head } = yield* Schema.decode(Schema.parseJson(Profile))(readFileSync(file, "utf8"))
  const byFunction = new Map<string, number>()
  const byOrigin = new Map<string, number>()
  let total = 0
  const walk = (node: Node) => {
    const { functionName, lineNumber, url } = node.callFrame
    total += node.selfSize
    add(byFunction, `${functionName || "(anonymous)"} ${short(url)}:${lineNumber + 1}`, node.selfSize)
    add(byOrigin, origin(url), node.selfSize)
    node.children.forEach(walk)
  }
  walk(head)
  yield* Console.log(`allocated ${(total / 1e6).toFixed(1)} MB: ${(total / entries).toFixed(0)} bytes per entry over ${entries} entries\n`)
  yield* Console.log("by function:")
  for (const line of top(byFunction, total, entries, Number(count))) yield* Console.log(line)
  yield* Console.log("\nby package / file:")
  for (const line of top(byOrigin, total, entries, 15)) yield* Console.log(line)
})

NodeRuntime.runMain(main)
