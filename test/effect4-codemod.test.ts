/**
 * The Effect 4 edition's codemod (`.ci/effect4/`): renames by its explicit
 * table on the syntax tree, only names bound by imports of Effect's modules,
 * never a user's own names, strings or comments. Its table names only
 * members that exist in Effect 3, and applied to `src/` it gives code that
 * parses, unchanged by a second pass.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect3 from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"
import type { Renames } from "../.ci/effect4/codemod.js"
import { transform } from "../.ci/effect4/codemod.js"
import { renames } from "../.ci/effect4/renames.js"

const table: Renames = {
  modules: { "@effect/platform-node/NodeContext": "@effect/platform-node/NodeServices" },
  barrels: { "@effect/platform/HttpRouter": ["effect/http", "HttpRouter"] },
  members: { Effect: { zipRight: "andThen" }, Duration: { DurationInput: "Input" }, Layer: { scoped: "effect" } }
}

const run = (text: string) => transform("x.ts", text, table)

const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(path.join(dir, entry.name)) : entry.name.endsWith(".ts") ? [path.join(dir, entry.name)] : []
  )

describe("the Effect 4 codemod", () => {
  it("renames members of Effect's modules in values and types, through the names they were imported under", () => {
    const out = run([
      `import { Effect, Layer as L } from "effect"`,
      `import type * as Duration from "effect/Duration"`,
      `const a = Effect.zipRight(Effect.void, Effect.void)`,
      `const b = L.scoped(tag, make)`,
      `type D = Duration.DurationInput`,
      `const c = (d: Duration.DurationInput) => Effect.zipRight`
    ].join("\n"))
    expect(out).toContain("Effect.andThen(Effect.void, Effect.void)")
    expect(out).toContain("L.effect(tag, make)")
    expect(out).toContain("type D = Duration.Input")
    expect(out).toContain("(d: Duration.Input) => Effect.andThen")
    expect(out).not.toContain("zipRight")
  })

  it("leaves alone a name not bound by an import of that module, other objects' members, strings and comments", () => {
    const text = [
      `import { Layer } from "effect"`,
      `const Effect = { zipRight: 1 }`,
      `const x = Effect.zipRight + other.zipRight`,
      `// Effect.zipRight in a comment`,
      `const s = "Layer.scoped"`,
      `const t = Layer.launch`
    ].join("\n")
    expect(run(text)).toBe(text)
  })

  it("turns a whole-module import into the barrel's named import, keeping its local name and type-only import", () => {
    expect(run(`import * as HttpRouter from "@effect/platform/HttpRouter"`)).toBe(`import { HttpRouter } from "effect/http"`)
    expect(run(`import type * as Router from "@effect/platform/HttpRouter"`)).toBe(`import type { HttpRouter as Router } from "effect/http"`)
    expect(run(`import * as NodeContext from "@effect/platform-node/NodeContext"`)).toBe(`import * as NodeContext from "@effect/platform-node/NodeServices"`)
    expect(run(`export { x } from "@effect/platform-node/NodeContext"`)).toBe(`export { x } from "@effect/platform-node/NodeServices"`)
  })

  it("renames only members that exist in Effect 3, to names that are not renamed again", () => {
    const modules = Effect3 as unknown as Record<string, Record<string, unknown>>
    for (const [module, members] of Object.entries(renames.members)) {
      for (const [from, to] of Object.entries(members)) {
        // a type-only member (Duration.DurationInput) has no value to look for
        if (from !== "DurationInput") expect(modules[module]?.[from], `${module}.${from}`).toBeDefined()
        expect(members[to], `${module}.${to} is renamed again`).toBeUndefined()
      }
    }
  })

  it("gives src/ back as code that parses, and a second pass changes nothing", () => {
    const files = sources(path.join(__dirname, "..", "src"))
    expect(files.length).toBeGreaterThan(30)
    let changed = 0
    for (const file of files) {
      const text = fs.readFileSync(file, "utf8")
      const once = transform(file, text, renames)
      if (once !== text) changed++
      const parsed = ts.createSourceFile(file, once, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS) as ts.SourceFile & {
        readonly parseDiagnostics: ReadonlyArray<ts.Diagnostic>
      }
      expect(parsed.parseDiagnostics, file).toEqual([])
      expect(transform(file, once, renames), file).toBe(once)
    }
    expect(changed).toBeGreaterThan(10)
  })
})
