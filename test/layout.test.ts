/**
 * The layout of `src/`: no import cycles (a module never reaches itself by
 * following its relative imports, type-only imports included), no module
 * importing from a layer above its own, and every module opening with a
 * comment saying what it owns.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(__dirname, "../src")

const modules = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? modules(full) : entry.name.endsWith(".ts") ? [full] : []
  })

const importPattern = /(?:import|export)\s[^"']*?from\s+["'](\.{1,2}\/[^"']+)["']/g

/** The modules of `src/` a module imports (relative specifiers, `.js` mapped to `.ts`). */
const importsOf = (file: string): Array<string> =>
  [...fs.readFileSync(file, "utf8").matchAll(importPattern)].map((match) =>
    path.resolve(path.dirname(file), match[1]!.replace(/\.js$/, ".ts"))
  )

/** Every cycle found by a depth-first walk, each as the list of modules on it. */
export const cyclesOf = (graph: ReadonlyMap<string, ReadonlyArray<string>>): Array<Array<string>> => {
  const cycles: Array<Array<string>> = []
  const done = new Set<string>()
  const onPath: Array<string> = []
  const visit = (node: string) => {
    const at = onPath.indexOf(node)
    if (at >= 0) {
      cycles.push([...onPath.slice(at), node])
      return
    }
    if (done.has(node)) return
    onPath.push(node)
    for (const next of graph.get(node) ?? []) visit(next)
    onPath.pop()
    done.add(node)
  }
  for (const node of graph.keys()) visit(node)
  return cycles
}

/**
 * The layers of `src/`, ground floor first: each public module with the
 * private folder that serves it. A module imports only from its own layer
 * and those below. Entries ending in `/` are folders (all of their modules).
 */
export const layers: ReadonlyArray<ReadonlyArray<string>> = [
  ["RedisError.ts", "Naming.ts", "MessageId.ts", "internal/edition.ts"],
  ["Redis.ts", "internal/redis/"],
  ["Streams.ts", "Groups.ts", "Topic.ts", "testing/"],
  ["Gc.ts", "internal/gc/"],
  ["Consumer.ts", "internal/consumer/"],
  ["Dashboard.ts", "internal/dashboard/", "dashboard/"],
  ["cli/", "index.ts", "entry.ts"]
]

/** The layer of a module (a path relative to `src/`), or `undefined` when no layer names it. */
export const layerOf = (layout: ReadonlyArray<ReadonlyArray<string>>, module: string): number | undefined => {
  const at = layout.findIndex((layer) => layer.some((entry) => entry.endsWith("/") ? module.startsWith(entry) : module === entry))
  return at < 0 ? undefined : at
}

/** Every import that reaches a layer above its importer's, as `from → to`. */
export const upwardImports = (
  layout: ReadonlyArray<ReadonlyArray<string>>,
  graph: ReadonlyMap<string, ReadonlyArray<string>>
): Array<string> =>
  [...graph].flatMap(([from, imports]) =>
    imports.filter((to) => (layerOf(layout, to) ?? -1) > (layerOf(layout, from) ?? Infinity)).map((to) => `${from} → ${to}`)
  )

describe("layout of src/", () => {
  const files = modules(root)
  const graph = new Map(files.map((file) => [file, importsOf(file)]))

  it("the cycle finder finds a cycle when there is one", () => {
    expect(cyclesOf(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]))).toEqual([["a", "b", "c", "a"]])
    expect(cyclesOf(new Map([["a", ["b"]], ["b", []]]))).toEqual([])
  })

  it("has no import cycles", () => {
    const relative = cyclesOf(graph).map((cycle) => cycle.map((file) => path.relative(root, file)).join(" → "))
    expect(relative).toEqual([])
  })

  it("the layer check finds an import from a higher layer", () => {
    const layout = [["a.ts", "low/"], ["b.ts"], ["high/"]]
    expect(layerOf(layout, "low/x.ts")).toBe(0)
    expect(layerOf(layout, "lower.ts")).toBeUndefined()
    expect(upwardImports(layout, new Map([["low/x.ts", ["b.ts"]], ["b.ts", ["a.ts", "low/y.ts"]], ["high/z.ts", ["b.ts"]]])))
      .toEqual(["low/x.ts → b.ts"])
    expect(upwardImports(layout, new Map([["a.ts", ["high/z.ts"]]]))).toEqual(["a.ts → high/z.ts"])
  })

  it("places every module in a layer", () => {
    const unplaced = files.map((file) => path.relative(root, file)).filter((module) => layerOf(layers, module) === undefined)
    expect(unplaced).toEqual([])
  })

  it("imports nothing from a layer above a module's own", () => {
    const relative = new Map([...graph].map(([file, imports]) => [path.relative(root, file), imports.map((to) => path.relative(root, to))]))
    expect(upwardImports(layers, relative)).toEqual([])
  })

  it("opens each folder of internal/ with a note, in its main module, that names every file of the folder", () => {
    const internal = path.join(root, "internal")
    const folders = fs.readdirSync(internal, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name)
    expect(folders.sort()).toEqual(["consumer", "dashboard", "gc", "redis"])
    for (const folder of folders) {
      const names = fs.readdirSync(path.join(internal, folder)).filter((name) => name.endsWith(".ts"))
      const openings = names.map((name) => fs.readFileSync(path.join(internal, folder, name), "utf8").split("*/")[0]!)
      const main = openings.filter((opening) => opening.includes(`**\`internal/${folder}/\`**`))
      expect(main, folder).toHaveLength(1)
      expect(names.filter((name) => !main[0]!.includes(`\`${name}\``)), folder).toEqual([])
    }
  })

  it("imports only modules that exist", () => {
    const missing = [...graph].flatMap(([file, imports]) =>
      imports.filter((target) => !fs.existsSync(target)).map((target) => `${path.relative(root, file)} → ${path.relative(root, target)}`)
    )
    expect(missing).toEqual([])
  })

  it("opens every module with a comment saying what it owns", () => {
    const opening = (file: string) => fs.readFileSync(file, "utf8").replace(/^#!.*\n/, "").trimStart()
    const bare = files.filter((file) => !opening(file).startsWith("/**"))
    expect(bare.map((file) => path.relative(root, file))).toEqual([])
  })
})
