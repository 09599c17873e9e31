import { NodeContext } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import { Redis } from "../src/index.js"
import { RedisTest } from "../src/testing/index.js"
import { eventually } from "./utils.js"

/** Runs `f` with a fresh connection to `url`, closed afterwards. */
const withRedis = <A, E>(url: string, f: (redis: Redis.Service) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(Redis.make({ url, connectTimeout: "1 second", commandTimeout: "500 millis" }), f))

/** Sets an environment variable until the scope closes. */
const withEnv = (name: string, value: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = process.env[name]
      process.env[name] = value
      return before
    }),
    (before) =>
      Effect.sync(() => {
        if (before === undefined) delete process.env[name]
        else process.env[name] = before
      })
  )

describe("RedisTest.server", () => {
  it.scopedLive("stop and restart on the same port; without persistence the data is gone", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.server()
      yield* withRedis(server.url, (redis) => redis.send("SET", ["k", "v"]))
      expect(Option.isSome(yield* server.pid)).toBe(true)
      yield* server.stop
      expect(yield* server.pid).toEqual(Option.none())
      const down = yield* Effect.flip(withRedis(server.url, (redis) => redis.send("PING")))
      expect(down.reason).toBe("Connection")
      yield* server.start
      expect(yield* withRedis(server.url, (redis) => redis.send("GET", ["k"]))).toBeNull()
      yield* server.restart
      expect(yield* withRedis(server.url, (redis) => redis.send("PING"))).toBe("PONG")
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("with appendOnly the data survives a restart", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.server({ appendOnly: true })
      yield* withRedis(server.url, (redis) => redis.send("XADD", ["stream/kept", "1-1", "k", "v"]))
      yield* server.restart
      expect(yield* withRedis(server.url, (redis) => redis.send("XLEN", ["stream/kept"]))).toBe(1)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("pause freezes the server and resume thaws it", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.server()
      yield* withRedis(server.url, (redis) =>
        Effect.gen(function*() {
          yield* server.pause
          const frozen = yield* Effect.flip(redis.send("PING"))
          expect(frozen.reason).toBe("Connection")
          yield* server.resume
          expect(yield* eventually(redis.send("PING"))).toBe("PONG")
        }))
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a missing binary is a NotInstalled error that names the fix", () =>
    Effect.gen(function*() {
      yield* withEnv("REDIS_SERVER_BIN", "/nonexistent")
      const error = yield* Effect.flip(RedisTest.server())
      expect(error.reason).toBe("NotInstalled")
      expect(error.message).toContain("/nonexistent")
      expect(error.message).toContain("apt-get install -y redis-server")
      expect(error.message).toContain("REDIS_URL")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a negative or malformed startTimeout is refused before anything starts", () =>
    Effect.gen(function*() {
      for (const startTimeout of ["-1 seconds", -5, "soon"] as ReadonlyArray<unknown> as ReadonlyArray<never>) {
        const error = yield* Effect.flip(RedisTest.server({ startTimeout }))
        expect(error).toMatchObject({ _tag: "RedisTestError", reason: "Start", message: expect.stringMatching(/startTimeout/) })
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("with REDIS_URL set, the layer uses that server and refuses to control it", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.server()
      yield* withEnv("REDIS_URL", server.url)
      const reply = yield* Effect.gen(function*() {
        const external = yield* RedisTest.RedisTest
        expect(external.port).toBe(server.port)
        expect((yield* Effect.flip(external.stop)).reason).toBe("Control")
        expect(yield* external.pid).toEqual(Option.none())
        const redis = yield* Redis.Redis
        return yield* redis.send("ECHO", ["external"])
      }).pipe(Effect.provide(RedisTest.layer()))
      expect(reply).toBe("external")
      expect(Option.isSome(yield* server.pid)).toBe(true)
    }).pipe(Effect.provide(NodeContext.layer)))
})

/** True when something accepts connections on the port. */
const listening = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => (socket.destroy(), resume(Effect.succeed(true))))
    socket.once("error", () => (socket.destroy(), resume(Effect.succeed(false))))
  })

/** Whether the process is gone (or a zombie, which holds no socket, waiting to be reaped). */
const gone = (pid: number) => {
  try {
    return /^State:\s+Z/m.test(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  } catch {
    return true
  }
}

describe("RedisTest servers outlive no test process", () => {
  it.scopedLive("a test process SIGKILLed from outside takes its redis-server with it", () =>
    Effect.gen(function*() {
      const script = new URL("./support/holdServer.ts", import.meta.url).pathname
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] })),
        (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
      )
      const [port, pid] = yield* Effect.async<ReadonlyArray<number>>((resume) => {
        let out = ""
        child.stdout!.on("data", (chunk) => {
          out += chunk
          if (out.includes("\n")) resume(Effect.succeed(out.trim().split(" ").map(Number)))
        })
      })
      expect(yield* listening(port!)).toBe(true)
      expect(gone(pid!)).toBe(false)
      child.kill("SIGKILL")
      yield* eventually(Effect.gen(function*() {
        expect(yield* listening(port!)).toBe(false)
        expect(gone(pid!)).toBe(true)
      }))
    }), 30_000)
})

describe("RedisTest.layerCluster", () => {
  it.scopedLive("with REDIS_CLUSTER_URLS set, it uses that cluster and refuses to control its nodes", () =>
    Effect.gen(function*() {
      const spawned = yield* RedisTest.cluster()
      yield* withEnv("REDIS_CLUSTER_URLS", spawned.urls.join(", "))
      yield* Effect.gen(function*() {
        const existing = yield* RedisTest.RedisTestCluster
        expect(existing.urls).toEqual(spawned.urls)
        expect((yield* Effect.flip(existing.nodes[0]!.stop)).message).toContain("REDIS_CLUSTER_URLS is set")
        yield* existing.waitUntilOk
        const redis = yield* Redis.Redis
        expect(redis.isCluster).toBe(true)
        yield* redis.send("SET", ["{existing}key", "v"])
        expect(yield* redis.send("GET", ["{existing}key"])).toBe("v")
      }).pipe(Effect.provide(RedisTest.layerCluster()))
      for (const node of spawned.nodes) expect(Option.isSome(yield* node.pid)).toBe(true)
    }).pipe(Effect.provide(NodeContext.layer)), 60_000)
})

layer(RedisTest.layer(), { excludeTestServices: true })("RedisTest.layer", (it) => {
  it.effect("provides Redis connected to the spawned server", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const redis = yield* Redis.Redis
      yield* redis.send("SET", ["shared", "1"])
      expect(yield* withRedis(server.url, (other) => other.send("GET", ["shared"]))).toBe("1")
      expect(yield* redis.send("CONFIG", ["GET", "appendonly"])).toEqual(["appendonly", "no"])
      expect(yield* redis.send("CONFIG", ["GET", "save"])).toEqual(["save", ""])
    }))
})
