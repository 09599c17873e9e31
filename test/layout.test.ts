/**
 * The layout of `src/`: no import cycles (a module never reaches itself by
 * following its relative imports, type-only imports included), and every
 * module opens with a comment saying what it owns.
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
