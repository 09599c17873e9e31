/**
 * The operator CLI, run as the built binary (dist/cli/bin.js) in a child
 * process against a real redis-server.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { execFile, execFileSync, spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as Http from "node:http"
import * as Path from "node:path"
import { Effect, Fiber } from "effect"
import { beforeAll } from "vitest"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { eventually } from "./utils.js"

const root = Path.resolve(import.meta.dirname, "..")
const bin = Path.join(root, "dist/cli/bin.js")

beforeAll(() => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" })
}, 120_000)

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const childEnv = (env: Record<string, string>) => {
  const { REDIS_URL: _, ...rest } = process.env
  return { ...rest, NO_COLOR: "1", ...env }
}

/** Runs the CLI to completion. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.async<Result>((resume) => {
    const child = execFile(process.execPath, [bin, ...args], { env: childEnv(env), timeout: 90_000 }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: child.exitCode ?? (error === null ? 0 : 1), stdout, stderr })))
  })

/** Runs the CLI with `--url` pointing at the test server. */
const withServer = (...args: ReadonlyArray<string>) =>
  Effect.flatMap(RedisTest.RedisTest, (server) => cli([...args, "--url", server.url]))

/** Runs the CLI invocations at the same time. */
const together = <const A extends ReadonlyArray<Effect.Effect<Result, never, RedisTest.RedisTest>>>(...runs: A) =>
  Effect.all(runs, { concurrency: "unbounded" })

const ok = (result: Result): string => {
  expect(result.stderr).toBe("")
  expect(result.code).toBe(0)
  return result.stdout
}

/** A failure: exit code 1 and a single line of explanation, no stack trace. */
const failedWithOneLine = (result: Result, pattern: RegExp) => {
  expect(result.code).toBe(1)
  const lines = result.stderr.trim().split("\n").filter((line) => line.trim() !== "")
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(pattern)
  expect(result.stderr).not.toMatch(/\n\s+at /)
}

/** Child processes are slow to start on a busy machine: this is not about speed. */
const slow = 120_000

/** Waits (in real time, with a deadline) until `condition` holds. */
const until = (condition: () => boolean, what: string) =>
  eventually(Effect.suspend(() => (condition() ? Effect.void : Effect.fail(`still waiting for ${what}`))), "60 seconds")

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

/** A group on a fresh stream with `pending` entries delivered to `consumer/cli/0`. */
const seed = (stream: string, group: string, pending: number) =>
  Effect.gen(function*() {
    yield* Groups.create(stream, group, { from: "0" })
    yield* Streams.xaddAll(stream, Array.from({ length: pending }, (_, i) => ({ n: i })))
    if (pending > 0) yield* send("XREADGROUP", ["GROUP", group, "consumer/cli/0", "STREAMS", stream, ">"])
  })

describe("effect-redis-streams --help", () => {
  it.effect("lists every command; commands and nested commands have help", () =>
    Effect.gen(function*() {
      const [top, gc, redrive, streams] = yield* together(
        cli(["--help"]),
        cli(["gc", "--help"]),
        cli(["dlq", "redrive", "--help"]),
        cli(["streams", "--help"])
      )
      for (const command of ["streams", "groups", "stats", "gc", "dlq list", "dlq redrive", "unblock", "clear-pending", "pause", "resume"]) {
        // the usage, wrapped to 80 columns, then the description indented below it
        expect(ok(top)).toMatch(new RegExp(`- ${command} \\[--url text\\] \\[--json\\][^\\n]*(\\n {4}\\S[^\\n]*)*\\n {6}[A-Z]`))
      }
      expect(ok(gc)).toContain("$ effect-redis-streams gc [--url text] [--json] [--dry-run]")
      expect(ok(gc)).toContain("Report the actions gc would take, changing nothing")
      expect(ok(redrive)).toContain("$ effect-redis-streams dlq redrive [--url text] [--json] [--count integer]\n[--stream text] <dlq>")
      expect(ok(streams)).toContain("A glob over key names (default stream/*)")
    }), slow)

  it.effect("an unreachable server is one line and exit code 1", () =>
    Effect.gen(function*() {
      const port = yield* RedisTest.freePort
      const result = yield* cli(["groups", "stream/x"], { REDIS_URL: `redis://127.0.0.1:${port}` })
      failedWithOneLine(result, /^error: cannot connect to Redis .*ECONNREFUSED/)
    }), slow)
})

layer(RedisTest.layer(), { excludeTestServices: true })("effect-redis-streams against a server", (it) => {
  it.effect("streams lists the stream keys matching a pattern, from --url or REDIS_URL", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-streams-a", "group/a", 0)
      yield* seed("stream/cli-streams-b", "group/b", 0)
      yield* send("SET", ["stream/cli-streams-not-a-stream", "x"])
      const server = yield* RedisTest.RedisTest
      const [text, fromEnv, none] = yield* together(
        withServer("streams", "stream/cli-streams-*"),
        cli(["streams", "--json", "stream/cli-streams-*"], { REDIS_URL: server.url }),
        withServer("streams", "nothing/*")
      )
      expect(ok(text)).toBe("stream/cli-streams-a\nstream/cli-streams-b\n")
      expect(JSON.parse(ok(fromEnv))).toEqual(expect.arrayContaining(["stream/cli-streams-a", "stream/cli-streams-b"]))
      expect(JSON.parse(ok(fromEnv))).toHaveLength(2)
      expect(ok(none)).toContain("no stream keys match nothing/*")
    }), slow)

  it.effect("groups lists a stream's groups; a missing stream is an error", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-groups", "group/one", 0)
      yield* Groups.create("stream/cli-groups", "group/two")
      const [text, json, missing] = yield* together(
        withServer("groups", "stream/cli-groups"),
        withServer("groups", "stream/cli-groups", "--json"),
        withServer("groups", "stream/cli-missing")
      )
      expect(ok(text)).toBe("group/one\ngroup/two\n")
      expect(JSON.parse(ok(json))).toEqual(["group/one", "group/two"])
      failedWithOneLine(missing, /^error: /)
    }), slow)

  it.effect("stats prints a table, --json the stats; a missing group or argument fails", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-stats", "group/stats", 3)
      yield* Streams.xaddAll("stream/cli-stats", [{ later: 1 }, { later: 2 }], { delay: "1 hour" })
      const [text, json, noGroup, missingArgument] = yield* together(
        withServer("stats", "stream/cli-stats", "group/stats"),
        withServer("stats", "--json", "stream/cli-stats", "group/stats"),
        withServer("stats", "stream/cli-stats", "group/nope"),
        withServer("stats", "stream/cli-stats")
      )
      expect(ok(text)).toMatch(/group\/stats\s+consumers 1\s+pending 3/)
      expect(ok(text)).toMatch(/consumer\/cli\/0\s+3\s+/)
      expect(ok(text)).toMatch(/delayed 2 \(next due \d{4}-\d\d-\d\dT/)
      expect(JSON.parse(ok(json))).toMatchObject({
        name: "group/stats",
        pending: 3,
        consumers: [{ name: "consumer/cli/0", pending: 3 }],
        delayed: { count: 2 }
      })
      failedWithOneLine(noGroup, /^error: /)
      failedWithOneLine(missingArgument, /Missing argument <group>/)
    }), slow)

  it.scoped("stats --watch redraws until interrupted", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-watch", "group/watch", 1)
      const server = yield* RedisTest.RedisTest
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(
            process.execPath,
            [bin, "stats", "--watch", "--interval", "100ms", "stream/cli-watch", "group/watch", "--url", server.url],
            { env: childEnv({}) }
          )
        ),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      let output = ""
      child.stdout.on("data", (chunk) => (output += chunk.toString()))
      const frames = () => output.split("CONSUMER").length - 1
      yield* until(() => frames() >= 3, "three frames of stats --watch")
      child.kill("SIGINT")
      yield* until(() => child.exitCode !== null || child.signalCode !== null, "stats --watch to end")
      expect(output).toContain("consumer/cli/0")
    }), slow)

  it.effect("gc --dry-run plans without acting; gc dead-letters and reports the actions", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-gc", "group/gc", 2)
      yield* send("XREADGROUP", ["GROUP", "group/gc", "consumer/cli/0", "STREAMS", "stream/cli-gc", "0"])
      const flags = ["--dlq-deliveries", "2", "--dlq-stream", "stream/cli-gc-dlq", "--no-rebalance", "--no-deregister"]
      const [planned, badFlag, noThreshold] = yield* together(
        withServer("gc", "stream/cli-gc", "group/gc", "--dry-run", ...flags),
        withServer("gc", "stream/cli-gc", "group/gc", "--rebalance-idle", "soon"),
        withServer("gc", "stream/cli-gc", "group/gc", "--dlq-stream", "stream/elsewhere")
      )
      failedWithOneLine(badFlag, /--rebalance-idle: "soon" is not a duration/)
      failedWithOneLine(noThreshold, /^error: with stream given, the dlq step needs --dlq-idle or --dlq-deliveries/)
      expect(ok(planned)).toMatch(/2 action\(s\): 2 Dlq \(dry run: nothing was changed\)/)
      expect((yield* Groups.stats("stream/cli-gc", "group/gc")).pending).toBe(2)
      expect(yield* send("EXISTS", ["stream/cli-gc-dlq"])).toBe(0)
      // the dead-letterings are logged, on stderr: stdout is the JSON alone
      const real = yield* withServer("gc", "stream/cli-gc", "group/gc", "--json", ...flags)
      expect(real.code).toBe(0)
      expect(real.stderr.split("\n").filter((line) => /WARN .*2 entries of stream\/cli-gc dead-lettered to stream\/cli-gc-dlq \(Deliveries\): \d+-\d+, \d+-\d+/.test(line))).toHaveLength(1)
      const actions = JSON.parse(real.stdout)
      expect(actions).toHaveLength(2)
      expect(actions[0]).toMatchObject({ _tag: "Dlq", consumer: "consumer/cli/0" })
      expect((yield* Groups.stats("stream/cli-gc", "group/gc")).pending).toBe(0)
      expect(yield* send("XLEN", ["stream/cli-gc-dlq"])).toBe(2)
    }), slow)

  it.effect("dlq list refuses a stream that is not a dead-letter stream; a missing stream's error names it", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-not-dlq", "group/not-dlq", 2)
      const [notDlq, missing] = yield* together(
        withServer("dlq", "list", "stream/cli-not-dlq"),
        withServer("stats", "stream/cli-missing", "group/x")
      )
      failedWithOneLine(notDlq, /^error: stream\/cli-not-dlq is not a dead-letter stream/)
      failedWithOneLine(missing, /^error: "stream\/cli-missing" does not exist/)
    }), slow)

  it.effect("dlq list shows dead letters; dlq redrive puts them back on their stream", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-dlq", "group/dlq", 3)
      yield* send("XREADGROUP", ["GROUP", "group/dlq", "consumer/cli/0", "STREAMS", "stream/cli-dlq", "0"])
      yield* Gc.collect("stream/cli-dlq", "group/dlq", { dlq: { deliveries: 2, stream: "stream/cli-dlq-dlq" } })
      const [text, json, badCount] = yield* together(
        withServer("dlq", "list", "stream/cli-dlq-dlq"),
        withServer("dlq", "list", "stream/cli-dlq-dlq", "--json"),
        withServer("dlq", "redrive", "stream/cli-dlq-dlq", "--count", "0")
      )
      failedWithOneLine(badCount, /--count must be a positive integer/)
      expect(ok(text)).toMatch(/stream\/cli-dlq\s+group\/dlq\s+consumer\/cli\/0/)
      const letters = JSON.parse(ok(json))
      expect(letters).toHaveLength(3)
      expect(letters[0]).toMatchObject({ stream: "stream/cli-dlq", group: "group/dlq", consumer: "consumer/cli/0" })
      const before = Number(yield* send("XLEN", ["stream/cli-dlq"]))
      const redriven = ok(yield* withServer("dlq", "redrive", "stream/cli-dlq-dlq", "--stream", "stream/cli-dlq", "--count", "2"))
      expect(redriven).toContain("redrove 2 entries")
      expect(yield* send("XLEN", ["stream/cli-dlq-dlq"])).toBe(1)
      expect(yield* send("XLEN", ["stream/cli-dlq"])).toBe(before + 2)
    }), slow)

  it.scoped("unblock ends the blocking read of matching consumer connections", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-unblock", "group/unblock", 0)
      const redis = yield* Redis.Redis
      const connection = yield* redis.dedicated("consumer/cli-unblock/0")
      const read = yield* Effect.fork(connection.send("XREADGROUP", [
        "GROUP",
        "group/unblock",
        "consumer/cli-unblock/0",
        "BLOCK",
        20_000,
        "STREAMS",
        "stream/cli-unblock",
        ">"
      ]))
      yield* eventually(Effect.flatMap(send("CLIENT", ["LIST"]), (list) =>
        /name=consumer\/cli-unblock\/0 .*cmd=xreadgroup/.test(String(list)) ? Effect.void : Effect.fail("not blocked yet")))
      const [result, nobody, badRegex] = yield* together(
        withServer("unblock", "--regex", "--json", "^consumer/cli-unblock/\\d+$"),
        withServer("unblock", "consumer/nobody/"),
        withServer("unblock", "--regex", "consumer/(")
      )
      expect(JSON.parse(ok(result))).toEqual({ unblocked: 1 })
      expect(ok(nobody)).toContain("unblocked 0")
      failedWithOneLine(badRegex, /^error: "consumer\/\(" is not a regular expression/)
      const error = yield* Effect.flip(Fiber.join(read))
      expect(error.reason).toBe("Unblocked")
    }), slow)

  it.effect("clear-pending acks one consumer's or the whole group's pending entries", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-clear", "group/clear", 2)
      yield* Streams.xaddAll("stream/cli-clear", [{ n: 10 }])
      yield* send("XREADGROUP", ["GROUP", "group/clear", "consumer/cli/1", "STREAMS", "stream/cli-clear", ">"])
      const [one, missingArgument] = yield* together(
        withServer("clear-pending", "stream/cli-clear", "group/clear", "consumer/cli/0"),
        withServer("clear-pending")
      )
      failedWithOneLine(missingArgument, /Missing argument <stream>/)
      expect(ok(one)).toContain("acked 2 pending entries")
      expect((yield* Groups.stats("stream/cli-clear", "group/clear")).pending).toBe(1)
      expect(JSON.parse(ok(yield* withServer("clear-pending", "--json", "stream/cli-clear", "group/clear")))).toEqual({ acked: 1 })
      expect((yield* Groups.stats("stream/cli-clear", "group/clear")).pending).toBe(0)
    }), slow)
})

layer(RedisTest.layer(), { excludeTestServices: true })("CLI pause and resume", (it) => {
  it.effect("pause and resume a group; stats shows PAUSED; a missing group is one line", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-pause", "group/pause", 1)
      expect(ok(yield* withServer("pause", "stream/cli-pause", "group/pause"))).toContain("group/pause of stream/cli-pause is paused")
      expect(yield* Groups.isPaused("stream/cli-pause", "group/pause")).toBe(true)
      expect(ok(yield* withServer("stats", "stream/cli-pause", "group/pause"))).toContain("PAUSED")
      const [resumed, missing] = yield* together(
        withServer("resume", "--json", "stream/cli-pause", "group/pause"),
        withServer("pause", "stream/cli-pause", "group/none")
      )
      expect(JSON.parse(ok(resumed))).toEqual({ stream: "stream/cli-pause", group: "group/pause", paused: false })
      expect(yield* Groups.isPaused("stream/cli-pause", "group/pause")).toBe(false)
      failedWithOneLine(missing, /NoGroup|no consumer group/)
    }), slow)
})

layer(RedisTest.layer(), { excludeTestServices: true })("CLI dashboard", (it) => {
  it.scoped("dashboard serves the page and the API until interrupted, with the token from DASHBOARD_TOKEN", () =>
    Effect.gen(function*() {
      yield* seed("stream/cli-dashboard", "group/dashboard", 1)
      const server = yield* RedisTest.RedisTest
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, [bin, "dashboard", "--port", "0", "--interval", "200ms", "--read-only", "--url", server.url], {
            env: childEnv({ DASHBOARD_TOKEN: "from-env" })
          })
        ),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      let output = ""
      child.stdout.on("data", (chunk) => (output += chunk.toString()))
      yield* until(() => /dashboard on http:\/\/127\.0\.0\.1:\d+\//.test(output), "the dashboard's URL")
      const url = /dashboard on (\S+)/.exec(output)![1]!
      expect(url).toMatch(/#token=from-env$/)
      const get = (path: string) => Effect.promise(() => fetch(new URL(path, url)))
      expect((yield* get("/")).status).toBe(200)
      expect((yield* get("/api/snapshot")).status).toBe(401)
      const snapshot: { streams: Array<{ name: string }> } = yield* Effect.promise(() =>
        fetch(new URL("/api/snapshot", url), { headers: { authorization: "Bearer from-env" } }).then((r) => r.json() as Promise<{ streams: Array<{ name: string }> }>)
      )
      expect(snapshot.streams.map((s: { name: string }) => s.name)).toContain("stream/cli-dashboard")
      const redrive = yield* Effect.promise(() => fetch(new URL("/api/dlq/stream%2Fdlq/redrive", url), { method: "POST", headers: { authorization: "Bearer from-env" } }))
      expect(redrive.status).toBe(403)
      child.kill("SIGINT")
      yield* until(() => child.exitCode !== null || child.signalCode !== null, "dashboard to end")
    }), slow)

  it.scoped("dashboard warns that --token is visible to other users, and answers an --allowed-host", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, [bin, "dashboard", "--port", "0", "--token", "on-the-line", "--allowed-host", "dash.local", "--url", server.url], {
            env: childEnv({})
          })
        ),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      let output = ""
      let errors = ""
      child.stdout.on("data", (chunk) => (output += chunk.toString()))
      child.stderr.on("data", (chunk) => (errors += chunk.toString()))
      yield* until(() => /dashboard on http:\/\/127\.0\.0\.1:\d+\//.test(output), "the dashboard's URL")
      expect(errors).toMatch(/--token is visible to other users .* DASHBOARD_TOKEN/)
      const port = Number(new URL(/dashboard on (\S+)/.exec(output)![1]!).port)
      const status = (host: string) =>
        Effect.async<number>((resume) => {
          const request = Http.request({ host: "127.0.0.1", port, path: "/api/snapshot", headers: { host, authorization: "bearer on-the-line" } }, (response) => {
            response.resume()
            resume(Effect.succeed(response.statusCode ?? 0))
          })
          request.end()
        })
      expect(yield* status(`dash.local:${port}`)).toBe(200)
      expect(yield* status(`elsewhere.local:${port}`)).toBe(403)
      child.kill("SIGINT")
      yield* until(() => child.exitCode !== null || child.signalCode !== null, "dashboard to end")
    }), slow)
})

describe("CLI help", () => {
  it.effect("fits an 80-column terminal: no line of any command's --help is wider", () =>
    Effect.gen(function*() {
      const commands = [[], ["streams"], ["groups"], ["stats"], ["gc"], ["dlq"], ["dlq", "list"], ["dlq", "redrive"], ["unblock"], ["clear-pending"], ["dashboard"]]
      const results = yield* Effect.all(commands.map((command) => cli([...command, "--help"])), { concurrency: 4 })
      results.forEach((result, i) => {
        const text = ok(result)
        // piped (and with NO_COLOR): no colour escapes
        expect(text, commands[i]!.join(" ")).not.toMatch(/\u001b\[/)
        expect(text, commands[i]!.join(" ")).toContain("USAGE")
        // the usage line as it is typed, the full command path
        expect(text, commands[i]!.join(" ")).toMatch(new RegExp(`^\\$ ${["effect-redis-streams", ...commands[i]!].join(" ")}( |$)`, "m"))
        expect(text.split("\n").filter((line) => line.length > 80), commands[i]!.join(" ")).toEqual([])
      })
    }), slow)
})
