/**
 * The package as an application gets it: `npm pack`, then installed from the
 * tarball into fresh apps. With Effect 3 the app's own `effect` is the only
 * copy, a small program runs against a real redis-server and the CLI starts;
 * with Effect 4 npm refuses the install, naming the peer dependency.
 *
 * The package is built into a staging folder (not `dist/`, which other test
 * files build at the same time) and packed from there.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as Path from "node:path"
import { afterAll, beforeAll } from "vitest"

const root = Path.resolve(import.meta.dirname, "..")
const work = fs.mkdtempSync(Path.join(os.tmpdir(), "ers-package-"))
/** The Effect 3 version the app picks: the lowest the package declares, not the one this repo uses. */
const appEffect = "3.22.2"

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string): Promise<Result> =>
  new Promise((resolve) => {
    const { REDIS_URL: _, npm_config_prefix: __, ...env } = process.env
    execFile(command, args, { cwd, env: { ...env, NO_COLOR: "1" }, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
  })

const ok = (result: Result): string => {
  if (result.code !== 0) throw new Error(`exit ${result.code}\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

const npm = (cwd: string, ...args: ReadonlyArray<string>) => run("npm", [...args, "--no-audit", "--no-fund"], cwd)

let tarball = ""

beforeAll(async () => {
  const staging = Path.join(work, "staging")
  fs.mkdirSync(staging)
  for (const file of ["package.json", "README.md"]) fs.copyFileSync(Path.join(root, file), Path.join(staging, file))
  for (const dir of ["src", "examples", "docs"]) fs.cpSync(Path.join(root, dir), Path.join(staging, dir), { recursive: true })
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  ok(await run(process.execPath, [tsc, "-p", Path.join(root, "tsconfig.build.json"), "--outDir", Path.join(staging, "dist")], root))
  const packed = ok(await npm(staging, "pack", "--ignore-scripts", "--json", "--pack-destination", work))
  tarball = Path.join(work, JSON.parse(packed)[0].filename)
}, 240_000)

afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

const app = (name: string, dependencies: Record<string, string>) => {
  const dir = Path.join(work, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(
    Path.join(dir, "package.json"),
    JSON.stringify({ name, version: "1.0.0", private: true, type: "module", dependencies: { ...dependencies, "effect-redis-streams": `file:${tarball}` } })
  )
  return dir
}

/** Every installed copy of `effect` in the app, by version. */
const effectCopies = (dir: string): Array<string> => {
  const found: Array<string> = []
  const walk = (modules: string) => {
    if (!fs.existsSync(modules)) return
    for (const entry of fs.readdirSync(modules)) {
      const at = Path.join(modules, entry)
      if (entry.startsWith("@")) walk(at)
      else if (entry === "effect") found.push(JSON.parse(fs.readFileSync(Path.join(at, "package.json"), "utf8")).version)
      walk(Path.join(at, "node_modules"))
    }
  }
  walk(Path.join(dir, "node_modules"))
  return found
}

const readme = () => fs.readFileSync(Path.join(root, "README.md"), "utf8")

/** The first ts block after the README's "## Quick start". */
const quickStart = (): string => {
  const text = readme()
  const section = text.slice(text.indexOf("## Quick start"))
  const block = /```ts\n([\s\S]*?)```/.exec(section)
  if (block === null) throw new Error("no ts block in the README's Quick start")
  return block[1]!
}

/** The files under examples/ the README links to. */
const readmeExamples = (): Array<string> => [...new Set([...readme().matchAll(/\]\((examples\/[^)#]+)\)/g)].map((m) => m[1]!))]

const program = `
import { Effect } from "effect"
import { Consumer, Groups, Streams } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

const stream = "stream/app"
const group = "group/app"
const main = Effect.gen(function*() {
  yield* Groups.create(stream, group, { from: "0" })
  yield* Streams.xaddMap(stream, "*", { greeting: "hello" })
  return yield* Consumer.run({
    stream,
    group,
    consumer: "consumer/app/0",
    block: "100 millis",
    handler: (message) => Effect.succeed(message.fields.greeting),
    control: (event) => Effect.succeed(event._tag === "Handled" ? Consumer.Control.Exit() : Consumer.Control.Recur())
  })
})

Effect.runPromise(Effect.provide(main, RedisTest.layer())).then((value) => console.log("handled:", value))
`

describe("the packed package", () => {
  it("installs beside the app's own Effect 3 as its only copy, runs a program and the CLI", async () => {
    const dir = app("app-effect3", { effect: appEffect })
    ok(await npm(dir, "install"))
    expect(effectCopies(dir)).toEqual([appEffect])
    expect(ok(await npm(dir, "ls", "effect")).match(new RegExp(`effect@${appEffect.replaceAll(".", "\\.")}(?! deduped)`, "g"))).toHaveLength(1)

    fs.writeFileSync(Path.join(dir, "main.mjs"), program)
    expect(ok(await run(process.execPath, ["main.mjs"], dir))).toContain("handled: hello")

    const help = ok(await run(Path.join(dir, "node_modules/.bin/effect-redis-streams"), ["--help"], dir))
    expect(help).toContain("effect-redis-streams")
    expect(help).toContain("stats")

    // the README's Quick start, as a new user runs it (tsx is the repository's: npm install -D tsx)
    fs.writeFileSync(Path.join(dir, "quickstart.ts"), quickStart())
    const tsx = Path.join(root, "node_modules/tsx/dist/esm/index.mjs")
    expect(ok(await run(process.execPath, ["--import", `file://${tsx}`, "quickstart.ts"], dir))).toContain("Yum yum, tasty message")

    // the examples the README links to are in the package, and one copied out of it runs unchanged
    expect(readmeExamples().length).toBeGreaterThanOrEqual(6)
    for (const example of readmeExamples()) expect(fs.existsSync(Path.join(dir, "node_modules/effect-redis-streams", example)), example).toBe(true)
    fs.copyFileSync(Path.join(dir, "node_modules/effect-redis-streams/examples/producer.ts"), Path.join(dir, "producer.ts"))
    expect(ok(await run(process.execPath, ["--import", `file://${tsx}`, "producer.ts"], dir))).toMatch(/wrote 1001 entries/)
  }, 300_000)

  it("refuses to install beside Effect 4, naming the peer dependency", async () => {
    const dir = app("app-effect4", { effect: "^4.0.0" })
    const result = await npm(dir, "install", "--dry-run")
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/ERESOLVE/)
    expect(result.stderr).toMatch(/Could not resolve dependency:\s+npm error peer effect@"\^3\.22\.2"/)
    expect(result.stderr).toMatch(/from effect-redis-streams@/)
  }, 300_000)

  it("forced beside Effect 4, says at import and at the CLI's start which effect it needs", async () => {
    const dir = app("app-effect4-forced", { effect: "^4.0.0" })
    ok(await npm(dir, "install", "--legacy-peer-deps"))
    fs.writeFileSync(Path.join(dir, "main.mjs"), `import { Streams } from "effect-redis-streams"\nconsole.log(typeof Streams)\n`)
    for (const result of [
      await run(process.execPath, ["main.mjs"], dir),
      await run(Path.join(dir, "node_modules/.bin/effect-redis-streams"), ["--help"], dir)
    ]) {
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/effect-redis-streams \(this edition\) needs effect 3\.x, but the installed effect is 4\./)
      expect(result.stderr).toContain("npm install effect@^3 @effect/platform")
      expect(result.stderr).not.toMatch(/does not provide an export/)
    }
  }, 300_000)
})
