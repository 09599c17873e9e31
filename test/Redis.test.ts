import { describe, expect, it, layer } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Exit, Fiber, Layer } from "effect"
import { Redis as IORedis } from "ioredis"
import * as Redis from "../src/Redis.js"
import * as RedisError from "../src/RedisError.js"
import { RedisTest } from "../src/testing/index.js"

describe("Redis.layer", () => {
  it.effect("fails with reason Connection when the server cannot be reached", () =>
    Effect.gen(function*() {
      const port = yield* RedisTest.freePort
      const exit = yield* Layer.build(Redis.layer({ port, connectTimeout: "1 second" })).pipe(Effect.scoped, Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(Layer.build(Redis.layer(`redis://127.0.0.1:${port}`)).pipe(Effect.scoped))
      expect(error.reason).toBe("Connection")
      expect(error.message).toContain(String(port))
    }))
})

layer(RedisTest.layer(), { excludeTestServices: true })("Redis service", (it) => {
  it.effect("sends commands and maps error replies", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      expect(yield* redis.send("PING")).toBe("PONG")
      yield* redis.send("SET", ["plain", "x"])
      const error = yield* Effect.flip(redis.send("XLEN", ["plain"]))
      expect(error.reason).toBe("WrongType")
      expect(RedisError.isRedisError(error)).toBe(true)
    }))

  it.scoped("a dedicated connection is named, and interrupting a blocking read ends it", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const connection = yield* redis.dedicated("consumer/test/0")
      const id = yield* connection.clientId
      expect(id).toBeGreaterThan(0)
      const fiber = yield* Effect.fork(connection.send("XREAD", ["BLOCK", 20_000, "STREAMS", "s", "$"]))
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      expect(yield* connection.send("PING")).toBe("PONG")
    }))

  it.scoped("a dedicated connection pipelines commands, and interrupting a pipelined blocking read ends it", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const connection = yield* redis.dedicated("consumer/test/1")
      expect(yield* connection.pipeline([["SET", ["d1", "a"]], ["GET", ["d1"]]])).toEqual(["OK", "a"])
      const error = yield* Effect.flip(connection.pipeline([["GET", ["d1"]], ["XLEN", ["d1"]]]))
      expect(error.reason).toBe("WrongType")
      const fiber = yield* Effect.fork(connection.pipeline([["PING", []], ["XREAD", ["BLOCK", 20_000, "STREAMS", "s", "$"]]]))
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      expect(yield* connection.send("PING")).toBe("PONG")
    }))

  it.scoped("refuses a connection name with whitespace", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const error = yield* Effect.flip(redis.dedicated("has space"))
      expect(error.reason).toBe("InvalidArgument")
    }))

  it.effect("pipeline and transaction return replies in order and fail with the first error reply", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      expect(yield* redis.pipeline([["SET", ["p1", "a"]], ["GET", ["p1"]], ["INCR", ["p2"]]])).toEqual(["OK", "a", 1])
      expect(yield* redis.transaction([["INCR", ["p2"]], ["GET", ["p2"]]])).toEqual([2, "2"])
      expect(yield* redis.pipeline([])).toEqual([])
      const error = yield* Effect.flip(redis.pipeline([["GET", ["p1"]], ["XLEN", ["p1"]]]))
      expect(error.reason).toBe("WrongType")
      expect(error.command).toBe("XLEN")
    }))

  it.effect("onMasters sends to the one server", () =>
    Effect.gen(function*() {
      expect(yield* Redis.onMasters("PING")).toEqual(["PONG"])
      expect(yield* Redis.onMasters("ECHO", ["hi"])).toEqual(["hi"])
    }))

  it.effect("layerConfig reads REDIS_URL from the ConfigProvider, or takes a Config", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      yield* Redis.Redis.pipe(Effect.flatMap((redis) => redis.send("SET", ["from-config", "yes"])))
      const readBack = Effect.flatMap(Redis.Redis, (redis) => redis.send("GET", ["from-config"]))
      const viaEnv = yield* readBack.pipe(
        Effect.provide(Redis.layerConfig()),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["REDIS_URL", server.url]])))
      )
      expect(viaEnv).toBe("yes")
      const custom = Redis.layerConfig(Config.map(Config.integer("MY_PORT"), (port) => ({ host: server.host, port })))
      const viaConfig = yield* readBack.pipe(
        Effect.provide(custom),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["MY_PORT", String(server.port)]])))
      )
      expect(viaConfig).toBe("yes")
      const missing = yield* Effect.flip(
        Layer.build(custom).pipe(Effect.scoped, Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      expect(missing._tag).not.toBe("RedisError")
    }))

  it.effect("layerFromClient uses the caller's client and does not close it", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const client = new IORedis(server.url)
      yield* Effect.addFinalizer(() => Effect.promise(() => client.quit()))
      const reply = yield* Effect.flatMap(Redis.Redis, (redis) => redis.send("ECHO", ["mine"])).pipe(
        Effect.provide(Redis.layerFromClient(client))
      )
      expect(reply).toBe("mine")
      expect(client.status).toBe("ready")
      expect(yield* Effect.promise(() => client.ping())).toBe("PONG")
    }).pipe(Effect.scoped))
})
