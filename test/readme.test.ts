/**
 * The README and every guide under docs/: each ```ts block type-checks, and
 * each link reaches a file that exists (and, with a `#fragment`, a heading
 * of that file). The blocks are written to a temporary directory inside the
 * repository, where "effect-redis-streams" resolves to src/ (the package's
 * source condition), and compiled with one tsc run; a failure names the
 * document and line of each error.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")

/** The documents checked, relative to the repository: the README, then every guide. */
const documents = (): ReadonlyArray<string> => [
  "README.md",
  ...Fs.readdirSync(Path.join(root, "docs")).filter((name) => name.endsWith(".md")).sort().map((name) => `docs/${name}`)
]

const read = (document: string): string => Fs.readFileSync(Path.join(root, document), "utf8")

interface Block {
  readonly document: string
  /** The line of the opening fence. */
  readonly line: number
  readonly code: string
}

/** The ```ts blocks of a markdown text. */
const tsBlocks = (document: string, markdown: string): ReadonlyArray<Block> => {
  const blocks: Array<Block> = []
  const lines = markdown.split("\n")
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue
    const end = lines.findIndex((line, j) => j > i && line.startsWith("```"))
    if (end === -1) throw new Error(`${document}:${i + 1}: unterminated code block`)
    blocks.push({ document, line: i + 1, code: lines.slice(i + 1, end).join("\n") })
    i = end
  }
  return blocks
}

/** The markdown text outside fenced code blocks, line by line (code lines blanked, so line numbers hold). */
const outsideFences = (markdown: string): Array<string> => {
  let fenced = false
  return markdown.split("\n").map((line) => {
    if (line.startsWith("```")) {
      fenced = !fenced
      return ""
    }
    return fenced ? "" : line
  })
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
export const slugOf = (heading: string): string =>
  heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, "").replaceAll(" ", "-")

/** The anchors of a markdown text's headings. */
const anchorsOf = (markdown: string): Set<string> =>
  new Set(outsideFences(markdown).flatMap((line) => {
    const heading = /^#{1,6} (.*)$/.exec(line)
    return heading === null ? [] : [slugOf(heading[1]!)]
  }))

/**
 * The broken links of a document, as `document:line: target (why)`. `readFile`
 * returns a file's text by its path relative to the repository, or `undefined`
 * when there is none. Links to other sites are not followed.
 */
export const brokenLinks = (
  document: string,
  markdown: string,
  readFile: (path: string) => string | undefined
): Array<string> =>
  outsideFences(markdown).flatMap((line, index) =>
    [...line.replace(/`[^`]*`/g, "").matchAll(/\]\(([^)\s]+)\)/g)].flatMap((match) => {
      const target = match[1]!
      if (/^[a-z]+:/i.test(target)) return []
      const [file, fragment] = target.split("#") as [string, string | undefined]
      const path = file === "" ? document : Path.posix.normalize(Path.posix.join(Path.posix.dirname(document), file))
      const text = readFile(path)
      const where = `${document}:${index + 1}: ${target}`
      if (text === undefined) return [`${where} (no file ${path})`]
      if (fragment !== undefined && !anchorsOf(text).has(fragment)) return [`${where} (no heading #${fragment} in ${path})`]
      return []
    })
  )

const readRepositoryFile = (path: string): string | undefined => {
  const full = Path.join(root, path)
  if (!full.startsWith(root) || !Fs.existsSync(full)) return undefined
  return Fs.statSync(full).isDirectory() ? "" : Fs.readFileSync(full, "utf8")
}

const typecheck = (blocks: ReadonlyArray<Block>): { readonly status: number | null; readonly output: string } => {
  const dir = Fs.mkdtempSync(Path.join(root, ".readme-check-"))
  try {
    const files = blocks.map((block, index) => {
      const file = `block-${index}.ts`
      Fs.writeFileSync(Path.join(dir, file), `${block.code}\nexport {}\n`)
      return file
    })
    Fs.writeFileSync(
      Path.join(dir, "tsconfig.json"),
      JSON.stringify({ extends: "../tsconfig.json", compilerOptions: { noEmit: true, rootDir: ".." }, files, include: [] })
    )
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
    const result = spawnSync(process.execPath, [tsc, "-p", Path.join(dir, "tsconfig.json"), "--pretty", "false"], {
      cwd: root,
      encoding: "utf8"
    })
    // `block-3.ts(2,5)` in tsc's output becomes `docs/gc.md:14:5`
    const output = `${result.stdout}${result.stderr}`.replace(/[^\s]*block-(\d+)\.ts\((\d+),(\d+)\)/g, (_, index, line, column) => {
      const block = blocks[Number(index)]!
      return `${block.document}:${block.line + Number(line)}:${column}`
    })
    return { status: result.status, output }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

const allBlocks = () => documents().flatMap((document) => tsBlocks(document, read(document)))

describe("README.md and docs/", () => {
  it("the README is a door: at most 300 lines, linking every guide", () => {
    const readme = read("README.md")
    expect(readme.split("\n").length).toBeLessThanOrEqual(300)
    const guides = documents().filter((document) => document !== "README.md")
    expect(guides.length).toBeGreaterThanOrEqual(14)
    expect(guides.filter((guide) => !readme.includes(`](${guide})`))).toEqual([])
  })

  it("finds the code blocks, each importing the package by its name", () => {
    const blocks = allBlocks()
    expect(blocks.length).toBeGreaterThanOrEqual(30)
    expect(blocks.filter((block) => !block.code.includes("from \"effect-redis-streams")).map((block) => `${block.document}:${block.line}`))
      .toEqual([])
  })

  it("every ts block type-checks", () => {
    const { output, status } = typecheck(allBlocks())
    expect(output).toBe("")
    expect(status).toBe(0)
  }, 180_000)

  it("reports a broken block at its document and line", () => {
    const { output, status } = typecheck(tsBlocks("docs/x.md", "intro\n\n```ts\nimport { Naming } from \"effect-redis-streams\"\nconst n: number = Naming.streamName(\"x\")\n```\n"))
    expect(status).not.toBe(0)
    expect(output).toMatch(/^docs\/x\.md:5:7: error TS2322/m)
  }, 120_000)

  it("every link reaches a file, and a heading when it names one", () => {
    expect(documents().flatMap((document) => brokenLinks(document, read(document), readRepositoryFile))).toEqual([])
  })

  it("the link check finds a missing file, a missing heading, and skips code and other sites", () => {
    const files: Record<string, string> = { "docs/a.md": "# A guide\n\n## Two words, here\n", "README.md": "# R\n" }
    const text = [
      "[ok](a.md) [ok](a.md#two-words-here) [ok](../README.md#r) [ok](#local) [web](https://example.com/x)",
      "## Local",
      "[gone](b.md) [no heading](a.md#three) `[code](c.md)`",
      "```ts",
      "[fenced](d.md)",
      "```"
    ].join("\n")
    expect(brokenLinks("docs/z.md", text, (path) => path === "docs/z.md" ? text : files[path])).toEqual([
      "docs/z.md:3: b.md (no file docs/b.md)",
      "docs/z.md:3: a.md#three (no heading #three in docs/a.md)"
    ])
    expect(slugOf("Testing your own code with RedisTest.layer")).toBe("testing-your-own-code-with-redistestlayer")
    expect(slugOf("`count` and `concurrency`")).toBe("count-and-concurrency")
  })
})
