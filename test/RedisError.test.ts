import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Redis, RedisError } from "../src/index.js"
import { RedisTest } from "../src/testing/index.js"
import { eventually } from "./utils.js"

describe("RedisError.reasonOf", () => {
  it("maps error replies by their prefix", () => {
    const cases: ReadonlyArray<readonly [string, RedisError.Reason]> = [
      ["NOGROUP No such key 's' or consumer group 'g'", "NoGroup"],
      ["BUSYGROUP Consumer Group name already exists", "BusyGroup"],
      ["WRONGTYPE Operation against a key holding the wrong kind of value", "WrongType"],
      ["UNBLOCKED client unblocked via CLIENT UNBLOCK", "Unblocked"],
      ["UNBLOCKED the stream key no longer exists", "NoGroup"],
      ["ERR no such key", "NoSuchKey"],
      ["CROSSSLOT Keys in request don't hash to the same slot", "CrossSlot"],
      ["LOADING Redis is loading the dataset in memory", "Connection"],
      ["ERR Invalid stream ID specified as stream command argument", "InvalidArgument"],
      ["ERR The ID specified in XADD is equal or smaller than the target stream top item", "InvalidArgument"],
      ["ERR unknown command 'FOO'", "Command"]
    ]
    for (const [message, reason] of cases) expect([message, RedisError.reasonOf(new Error(message))]).toEqual([message, reason])
  })

  it("maps client errors to Connection", () => {
    expect(RedisError.reasonOf(new Error("Connection is closed."))).toBe("Connection")
    expect(RedisError.reasonOf(Object.assign(new Error("boom"), { code: "ECONNREFUSED" }))).toBe("Connection")
    expect(RedisError.reasonOf("connect ETIMEDOUT")).toBe("Connection")
    // ioredis' AbortError for a command (a script, say) it does not re-send after the connection closed
    expect(RedisError.reasonOf(Object.assign(new Error("Command aborted due to connection close"), { name: "AbortError" }))).toBe("Connection")
  })

  it("fromCause keeps a RedisError as it is and wraps anything else", () => {
    const original = RedisError.invalidArgument("XADD", "bad")
    expect(RedisError.fromCause("OTHER", original)).toBe(original)
    const wrapped = RedisError.fromCause("XREADGROUP", new Error("NOGROUP nope"))
    expect(wrapped).toMatchObject({ _tag: "RedisError", reason: "NoGroup", command: "XREADGROUP", message: "NOGROUP nope" })
  })

  it("refinements", () => {
    const unblocked = RedisError.fromCause("XREADGROUP", new Error("UNBLOCKED client unblocked"))
    const lost = RedisError.fromCause("XREADGROUP", new Error("Connection is closed."))
    expect(RedisError.isUnblocked(unblocked)).toBe(true)
    expect(RedisError.isUnblocked(lost)).toBe(false)
    expect(RedisError.isConnection(lost)).toBe(true)
    expect(lost.isRetryable).toBe(true)
    expect(unblocked.isRetryable).toBe(false)
    expect(RedisError.isRedisError(new Error("x"))).toBe(false)
  })
})

layer(RedisTest.layer(), { excludeTestServices: true })("RedisError from real replies", (it) => {
  const reasonOf = <A>(effect: Effect.Effect<A, RedisError.RedisError>) => Effect.map(Effect.flip(effect), (error) => error.reason)

  it.effect("NoGroup, BusyGroup, WrongType, NoSuchKey, InvalidArgument, Command", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      yield* redis.send("XADD", ["errors", "1-1", "k", "v"])
      yield* redis.send("SET", ["errors-string", "x"])
      yield* redis.send("XGROUP", ["CREATE", "errors", "g", "0"])
      expect(yield* reasonOf(redis.send("XREADGROUP", ["GROUP", "missing", "c", "STREAMS", "errors", ">"]))).toBe("NoGroup")
      expect(yield* reasonOf(redis.send("XGROUP", ["CREATE", "errors", "g", "0"]))).toBe("BusyGroup")
      expect(yield* reasonOf(redis.send("XLEN", ["errors-string"]))).toBe("WrongType")
      expect(yield* reasonOf(redis.send("XINFO", ["GROUPS", "no-such-stream"]))).toBe("NoSuchKey")
      expect(yield* reasonOf(redis.send("XADD", ["errors", "1-1", "k", "v"]))).toBe("InvalidArgument")
      expect(yield* reasonOf(redis.send("XRANGE", ["errors", "x", "+"]))).toBe("InvalidArgument")
      expect(yield* reasonOf(redis.send("NOSUCHCOMMAND"))).toBe("Command")
    }))

  it.scoped("Unblocked: CLIENT UNBLOCK … ERROR ends a blocking read", () =>
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const connection = yield* redis.dedicated("errors-blocked")
      const id = yield* connection.clientId
      const read = yield* Effect.fork(Effect.flip(connection.send("XREAD", ["BLOCK", 10_000, "STREAMS", "errors-unblock", "$"])))
      yield* eventually(
        redis.send("CLIENT", ["UNBLOCK", id, "ERROR"]).pipe(Effect.filterOrFail((n) => n === 1, () => "not blocked yet"))
      )
      const error = yield* Fiber.join(read)
      expect(error.reason).toBe("Unblocked")
      expect(RedisError.isUnblocked(error)).toBe(true)
    }))
})
