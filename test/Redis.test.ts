import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
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

  it.scoped("refuses a connection name with whitespace", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const error = yield* Effect.flip(redis.dedicated("has space"))
      expect(error.reason).toBe("InvalidArgument")
    }))
})
