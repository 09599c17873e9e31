/**
 * The demo's story (examples/demo.ts, `npm run demo`), run on a smaller scale
 * against a real server, and its self-check.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { check, demo, summary, type Outcome } from "../examples/demo.js"
import { RedisTest } from "../src/testing/index.js"

layer(RedisTest.layer(), { excludeTestServices: true })("the demo", (it) => {
  it.effect("handles or dead-letters every reading, leaves nothing pending and says OK", () =>
    Effect.gen(function*() {
      const printed: Array<string> = []
      const outcome = yield* demo({
        readings: 600,
        poisonEvery: 50,
        display: "plain",
        deadline: "60 seconds",
        write: (text) => Effect.sync(() => printed.push(text))
      })
      expect(check(outcome)).toEqual([])
      expect(outcome.written).toHaveLength(600)
      expect(outcome.poison.size).toBe(12)
      expect([...outcome.poison].every((id) => outcome.deadLettered.has(id))).toBe(true)
      expect(outcome.pending).toBe(0)
      expect(outcome.stoppedHolds).toBe(0)
      expect(printed.some((line) => line.startsWith("interrupted consumer/persist-readings/0"))).toBe(true)
      expect(printed.some((line) => line.startsWith("stopped consumer/persist-readings/1 for good"))).toBe(true)
      expect(printed.some((line) => /^\[\d/.test(line) && line.includes("pending"))).toBe(true)
      expect(summary(outcome).at(-1)).toBe("OK: every reading was handled or dead-lettered, and nothing is pending")
    }), 120_000)
})

describe("the demo's self-check", () => {
  const good: Outcome = {
    written: ["1-0", "2-0", "3-0"],
    poison: new Set(["3-0"]),
    handled: new Set(["1-0", "2-0"]),
    deadLettered: new Set(["3-0"]),
    pending: 0,
    stoppedHeld: 1,
    stoppedHolds: 0,
    elapsed: Duration.seconds(1)
  }

  it("passes a complete outcome", () => {
    expect(check(good)).toEqual([])
  })

  it("fails on a lost reading, on pending entries and on handled poison", () => {
    const bad = { ...good, handled: new Set(["1-0", "3-0"]), deadLettered: new Set<string>(), pending: 2 }
    expect(check(bad)).toEqual([
      "1 reading(s) neither handled nor dead-lettered (first: 2-0)",
      "1 poison reading(s) reported as handled",
      "2 entr(ies) still pending"
    ])
    expect(summary(bad).filter((line) => line.startsWith("FAILED"))).toHaveLength(3)
  })
})

describe("npm run demo", () => {
  it("prints the dashboard's URL, which shows the run live, and ends OK", async () => {
    const { spawn } = await import("node:child_process")
    const script = new URL("../examples/demo.ts", import.meta.url).pathname
    const { REDIS_URL: _, ...env } = process.env
    const child = spawn(process.execPath, ["--conditions=effect-redis-streams-source", "--import", "tsx", script], { env, stdio: ["ignore", "pipe", "inherit"] })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    try {
      const deadline = Date.now() + 60_000
      const poll = async <A>(what: string, check: () => Promise<A | undefined>): Promise<A> => {
        while (Date.now() < deadline) {
          const found = await check().catch(() => undefined)
          if (found !== undefined) return found
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        throw new Error(`never saw ${what}; output so far:\n${output}`)
      }
      const url = await poll("the dashboard URL", async () => /Dashboard at (http:\/\/\S+):/.exec(output)?.[1])
      const group = await poll("the demo's group on the dashboard", async () => {
        const snapshot = await (await fetch(new URL("/api/snapshot", url))).json() as {
          streams: Array<{ name: string; groups: Array<{ name: string; consumers: Array<unknown> }> }>
        }
        return snapshot.streams.find((s) => s.name === "stream/{sensors}readings")?.groups[0]
      })
      expect(group.name).toBe("group/persist-readings")
      expect(await exited).toBe(0)
      expect(output).toContain("OK: every reading was handled or dead-lettered, and nothing is pending")
    } finally {
      child.kill("SIGKILL")
    }
  }, 90_000)
})
