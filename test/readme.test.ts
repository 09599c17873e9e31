/**
 * Every ```ts block of README.md type-checks: the blocks are written to a
 * temporary directory inside the repository, where "effect-redis-streams"
 * resolves to src/index.ts, and compiled with tsc. A failure names the
 * README line of each error.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")

interface Block {
  /** The README line of the opening fence. */
  readonly line: number
  readonly code: string
}

/** The ```ts blocks of a markdown text. */
const tsBlocks = (markdown: string): ReadonlyArray<Block> => {
  const blocks: Array<Block> = []
  const lines = markdown.split("\n")
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue
    const end = lines.findIndex((line, j) => j > i && line.startsWith("```"))
    if (end === -1) throw new Error(`README.md:${i + 1}: unterminated code block`)
    blocks.push({ line: i + 1, code: lines.slice(i + 1, end).join("\n") })
    i = end
  }
  return blocks
}

/** Rewrites `block-L12.ts(3,5)` in tsc's output to `README.md:15:5`. */
const toReadmeLocations = (output: string): string =>
  output.replace(/[^\s]*block-L(\d+)\.ts\((\d+),(\d+)\)/g, (_, fence, line, column) =>
    `README.md:${Number(fence) + Number(line)}:${column}`)

const typecheck = (blocks: ReadonlyArray<Block>): { readonly status: number | null; readonly output: string } => {
  const dir = Fs.mkdtempSync(Path.join(root, ".readme-check-"))
  try {
    const files = blocks.map((block) => {
      const file = `block-L${block.line}.ts`
      Fs.writeFileSync(Path.join(dir, file), `${block.code}\nexport {}\n`)
      return file
    })
    Fs.writeFileSync(
      Path.join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: "../tsconfig.json",
        compilerOptions: {
          noEmit: true,
          rootDir: "..",
          paths: {
            "effect-redis-streams": ["../src/index.ts"],
            "effect-redis-streams/testing": ["../src/testing/index.ts"],
            "effect-redis-streams/dashboard": ["../src/dashboard/index.ts"]
          }
        },
        files,
        include: []
      })
    )
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
    const result = spawnSync(process.execPath, [tsc, "-p", Path.join(dir, "tsconfig.json"), "--pretty", "false"], {
      cwd: root,
      encoding: "utf8"
    })
    return { status: result.status, output: toReadmeLocations(`${result.stdout}${result.stderr}`) }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("README.md", () => {
  it("finds the code blocks", () => {
    const blocks = tsBlocks(Fs.readFileSync(Path.join(root, "README.md"), "utf8"))
    expect(blocks.length).toBeGreaterThanOrEqual(10)
    expect(blocks.every((block) => block.code.includes("from \"effect-redis-streams"))).toBe(true)
  })

  it("every ts block type-checks", () => {
    const { output, status } = typecheck(tsBlocks(Fs.readFileSync(Path.join(root, "README.md"), "utf8")))
    expect(output).toBe("")
    expect(status).toBe(0)
  }, 120_000)

  it("reports a broken block at its README line", () => {
    const { output, status } = typecheck(tsBlocks("intro\n\n```ts\nimport { Naming } from \"effect-redis-streams\"\nconst n: number = Naming.streamName(\"x\")\n```\n"))
    expect(status).not.toBe(0)
    expect(output).toMatch(/^README\.md:5:7: error TS2322/m)
  }, 120_000)
})
