import { NodeContext } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
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
