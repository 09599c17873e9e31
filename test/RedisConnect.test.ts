/**
 * Connection settings that cannot work fail `Redis.layer` with a clear
 * reason, within the connect timeout: a server that accepts the connection
 * and never answers (a silent `net` server on loopback, a frozen
 * redis-server), a database the server does not have, a URL or port that
 * is not one, a refused password.
 */
import { NodeContext } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer } from "effect"
import { createServer, type Socket } from "node:net"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"

/** A TCP server on 127.0.0.1 that accepts connections and never writes a byte. */
const silentServer = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly close: () => void }>((resume) => {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({
        port: typeof address === "object" && address !== null ? address.port : 0,
        close: () => {
          for (const socket of sockets) socket.destroy()
          server.close()
        }
      }))
    })
  }),
  (server) => Effect.sync(server.close)
)

/** Builds the layer and returns its error and how long it took; a hang fails the test at `within`. */
const failure = (options: Redis.RedisOptions | string, within: Duration.DurationInput = "15 seconds") =>
  Effect.gen(function*() {
    const started = Date.now()
    const error = yield* Layer.build(Redis.layer(options)).pipe(
      Effect.scoped,
      Effect.timeoutFail({ duration: within, onTimeout: () => "the layer hung" as const }),
      Effect.flip
    )
    return { error, took: Date.now() - started }
  })

it.scopedLive("a server that accepts and never answers: Connection within the connect timeout", () =>
  Effect.gen(function*() {
    const server = yield* silentServer
    const { error, took } = yield* failure({ port: server.port, host: "127.0.0.1", connectTimeout: "1 second" })
    expect(error).toMatchObject({ _tag: "RedisError", reason: "Connection" })
    expect(took).toBeLessThan(5_000)
  }), 30_000)

it.scopedLive("the layer's acquisition against a silent server can be interrupted", () =>
  Effect.gen(function*() {
    const server = yield* silentServer
    const fiber = yield* Effect.fork(Layer.build(Redis.layer({ port: server.port, host: "127.0.0.1", connectTimeout: "30 seconds" })).pipe(Effect.scoped))
    yield* Effect.sleep("200 millis")
    const exit = yield* Fiber.interrupt(fiber).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "interrupt hung" }))
    expect(Exit.isInterrupted(exit)).toBe(true)
  }), 30_000)

it.scopedLive("a frozen redis-server (SIGSTOP): Connection within the connect timeout", () =>
  Effect.gen(function*() {
    const server = yield* RedisTest.server()
    yield* server.pause
    const { error } = yield* failure({ url: server.url, connectTimeout: "1 second" })
    expect(error).toMatchObject({ reason: "Connection" })
    yield* server.resume
  }).pipe(Effect.provide(NodeContext.layer)), 30_000)

it.scopedLive("a database the server does not have is InvalidArgument, not a connection to db 0", () =>
  Effect.gen(function*() {
    const server = yield* RedisTest.server()
    const { error } = yield* failure(`${server.url}/99`)
    expect(error).toMatchObject({ reason: "InvalidArgument", message: expect.stringMatching(/database 99/) })
    const other = yield* failure({ url: server.url, db: -1 })
    expect(other.error).toMatchObject({ reason: "InvalidArgument" })
  }).pipe(Effect.provide(NodeContext.layer)), 30_000)

it.live("a URL or port that is not one is InvalidArgument, before any connection", () =>
  Effect.gen(function*() {
    for (const bad of ["not a url", "http://127.0.0.1:6379", "redis://127.0.0.1:99999", "redis://127.0.0.1:6379/x"]) {
      const { error } = yield* failure(bad)
      expect(error, bad).toMatchObject({ _tag: "RedisError", reason: "InvalidArgument" })
    }
    for (const port of [99_999, -1, 1.5]) {
      const { error } = yield* failure({ host: "127.0.0.1", port })
      expect(error, String(port)).toMatchObject({ reason: "InvalidArgument", message: expect.stringMatching(/port/) })
    }
    const { error } = yield* failure({ host: "127.0.0.1", connectTimeout: "-1 second" })
    expect(error).toMatchObject({ reason: "InvalidArgument", message: expect.stringMatching(/connectTimeout/) })
  }))

it.scopedLive("a refused password is reason Auth, not retryable", () =>
  Effect.gen(function*() {
    const server = yield* RedisTest.server()
    yield* Effect.scoped(Effect.flatMap(Redis.make(server.url), (redis) => redis.send("CONFIG", ["SET", "requirepass", "right"])))
    const wrong = yield* failure({ url: server.url, password: "wrong" })
    expect(wrong.error).toMatchObject({ reason: "Auth" })
    expect(typeof wrong.error !== "string" && wrong.error.isRetryable).toBe(false)
    const none = yield* failure(server.url)
    expect(none.error).toMatchObject({ reason: "Auth" })
    const redis = yield* Redis.make({ url: server.url, password: "right" })
    expect(yield* redis.send("PING")).toBe("PONG")
  }).pipe(Effect.provide(NodeContext.layer)), 30_000)
