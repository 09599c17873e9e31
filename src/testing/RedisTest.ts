/**
 * A real `redis-server` for tests, examples and demos: spawned on a free port,
 * with no persistence unless asked, killed when its scope closes.
 *
 * ```ts
 * import { it } from "@effect/vitest"
 * import { RedisTest } from "effect-redis-streams/testing"
 *
 * it.layer(RedisTest.layer())("my streams", (it) => {
 *   it.effect("works", () => ...)
 * })
 * ```
 *
 * With `REDIS_URL` set, the layers use that server instead of spawning one
 * (then `stop`/`restart`/`pause` fail: the server is not ours to control).
 * `REDIS_SERVER_BIN` names the binary to spawn (default `redis-server` on `PATH`).
 *
 * @since 0.1.0
 */
import { Command, CommandExecutor, FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import type { Scope } from "effect"
import { Clock, Context, Duration, Effect, Exit, Layer, Option, Ref, Schema, Scope as ScopeModule } from "effect"
import * as Net from "node:net"
import * as Redis from "../Redis.js"
import type * as RedisError from "../RedisError.js"

/**
 * A failure to start or control a test server.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisTestError extends Schema.TaggedError<RedisTestError>("effect-redis-streams/RedisTestError")(
  "RedisTestError",
  {
    reason: Schema.Literal("NotInstalled", "Start", "Control"),
    message: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {}

/**
 * How to start the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions {
  /** Turn on the append-only file (fsync always), so data survives `restart`. Default false. */
  readonly appendOnly?: boolean | undefined
  /** More `redis-server` arguments, e.g. `["--maxmemory", "10mb"]`. */
  readonly args?: ReadonlyArray<string> | undefined
  /** How long to wait for the server to answer PING. Default 10 seconds. */
  readonly startTimeout?: Duration.DurationInput | undefined
}

/**
 * A running test server and its fault controls.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  readonly host: string
  readonly port: number
  /** `redis://host:port` */
  readonly url: string
  /** Stops the server (SIGTERM) and waits for it to exit. */
  readonly stop: Effect.Effect<void, RedisTestError>
  /** Starts the server again on the same port (a no-op when it runs). */
  readonly start: Effect.Effect<void, RedisTestError>
  /** `stop` then `start`; with `appendOnly` the data survives. */
  readonly restart: Effect.Effect<void, RedisTestError>
  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  readonly pause: Effect.Effect<void, RedisTestError>
  /** Thaws a paused process (SIGCONT). */
  readonly resume: Effect.Effect<void, RedisTestError>
  /** The process id of the running server, if any. */
  readonly pid: Effect.Effect<Option.Option<number>>
}

/**
 * The tag of the running test server.
 *
 * @since 0.1.0
 * @category tags
 */
export class RedisTest extends Context.Tag("effect-redis-streams/RedisTest")<RedisTest, Server>() {}

const HOST = "127.0.0.1"

/**
 * A TCP port nobody listens on right now.
 *
 * @since 0.1.0
 * @category utils
 */
export const freePort: Effect.Effect<number, RedisTestError> = Effect.async<number, RedisTestError>((resume) => {
  const server = Net.createServer()
  server.unref()
  server.once("error", (cause) => resume(Effect.fail(new RedisTestError({ reason: "Start", message: "no free port", cause }))))
  server.listen(0, HOST, () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const ping = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = Net.connect({ host: HOST, port })
    let reply = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(500, () => done(false))
    socket.once("error", () => done(false))
    socket.on("data", (chunk) => {
      reply += chunk.toString()
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"))
    })
    socket.once("connect", () => socket.write("PING\r\n"))
    return Effect.sync(() => socket.destroy())
  })

const binary = (): string => process.env["REDIS_SERVER_BIN"] ?? "redis-server"

const missingBinary = (bin: string, cause: unknown) =>
  new RedisTestError({
    reason: "NotInstalled",
    message: `cannot start ${JSON.stringify(bin)}: redis-server was not found. ` +
      "Install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis), " +
      "set REDIS_SERVER_BIN to its path, or set REDIS_URL to use a running server.",
    cause
  })

const serverArgs = (port: number, dir: string, options: ServerOptions): ReadonlyArray<string> => [
  "--port",
  String(port),
  "--bind",
  HOST,
  "--dir",
  dir,
  "--save",
  "",
  "--daemonize",
  "no",
  "--loglevel",
  "notice",
  "--logfile",
  `${dir}/redis-${port}.log`,
  "--protected-mode",
  "no",
  ...(options.appendOnly
    ? ["--appendonly", "yes", "--appendfsync", "always", "--appenddirname", "aof"]
    : ["--appendonly", "no"]),
  ...(options.args ?? [])
]

const liveClock = Clock.make()

interface Running {
  readonly scope: ScopeModule.CloseableScope
  readonly process: CommandExecutor.Process
}

const spawn = (
  port: number,
  dir: string,
  options: ServerOptions
): Effect.Effect<Running, RedisTestError, CommandExecutor.CommandExecutor> =>
  Effect.gen(function*() {
    const bin = binary()
    const scope = yield* ScopeModule.make()
    const command = Command.make(bin, ...serverArgs(port, dir, options)).pipe(Command.stderr("inherit"))
    const process = yield* Command.start(command).pipe(
      ScopeModule.extend(scope),
      Effect.mapError((cause) =>
        cause._tag === "SystemError" && cause.reason === "NotFound"
          ? missingBinary(bin, cause)
          : new RedisTestError({ reason: "Start", message: `cannot start ${bin}: ${cause.message}`, cause })
      ),
      Effect.onError(() => ScopeModule.close(scope, Exit.void))
    )
    const deadline = Date.now() + Duration.toMillis(Duration.decode(options.startTimeout ?? "10 seconds"))
    while (true) {
      if (yield* ping(port)) return { scope, process }
      const alive = yield* Effect.orElseSucceed(process.isRunning, () => false)
      if (!alive || Date.now() > deadline) {
        yield* ScopeModule.close(scope, Exit.void)
        return yield* new RedisTestError({ reason: "Start", message: `redis-server did not answer PING on port ${port}` })
      }
      yield* Effect.sleep("20 millis")
    }
  }).pipe(
    // Waiting for a real process takes real time, also under a TestClock.
    Effect.withClock(liveClock)
  )

const signal = (running: Option.Option<Running>, name: NodeJS.Signals) =>
  Effect.gen(function*() {
    if (Option.isNone(running)) return yield* new RedisTestError({ reason: "Control", message: "the server is not running" })
    const pid = running.value.process.pid
    yield* Effect.try({
      try: () => process.kill(pid, name),
      catch: (cause) => new RedisTestError({ reason: "Control", message: `kill -${name} ${pid} failed`, cause })
    })
  })

const external = (url: string): Server => {
  const parsed = new URL(url)
  const refuse = Effect.fail(new RedisTestError({ reason: "Control", message: `REDIS_URL is set (${url}): the server is not ours to control` }))
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    url,
    stop: refuse,
    start: refuse,
    restart: refuse,
    pause: refuse,
    resume: refuse,
    pid: Effect.succeed(Option.none())
  }
}

/**
 * Spawns a `redis-server` on a free port and returns its handle; the server
 * is killed when the scope closes. A port taken by someone else between
 * choosing and binding is retried on another.
 *
 * @since 0.1.0
 * @category constructors
 */
export const server = (
  options: ServerOptions = {}
): Effect.Effect<Server, RedisTestError, Scope.Scope | CommandExecutor.CommandExecutor | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "redis-test-" }).pipe(
      Effect.mapError((cause) => new RedisTestError({ reason: "Start", message: "cannot make a temporary directory", cause }))
    )
    const executor = yield* CommandExecutor.CommandExecutor
    const start = (port: number) => spawn(port, dir, options).pipe(Effect.provideService(CommandExecutor.CommandExecutor, executor))
    let port = 0
    let first: Running | undefined
    for (let attempt = 0; first === undefined; attempt++) {
      port = yield* freePort
      const result = yield* Effect.either(start(port))
      if (result._tag === "Right") first = result.right
      else if (attempt >= 4 || result.left.reason === "NotInstalled") return yield* result.left
    }
    const current = yield* Ref.make(Option.some(first))
    const stopNow = Effect.gen(function*() {
      const running = yield* Ref.getAndSet(current, Option.none())
      if (Option.isNone(running)) return
      yield* Effect.sync(() => process.kill(running.value.process.pid, "SIGCONT")).pipe(Effect.ignore)
      yield* ScopeModule.close(running.value.scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => stopNow)
    const startNow = Effect.gen(function*() {
      if (Option.isSome(yield* Ref.get(current))) return
      yield* Ref.set(current, Option.some(yield* start(port)))
    })
    return {
      host: HOST,
      port,
      url: `redis://${HOST}:${port}`,
      stop: stopNow,
      start: startNow,
      restart: Effect.zipRight(stopNow, startNow),
      pause: Effect.flatMap(Ref.get(current), (running) => signal(running, "SIGSTOP")),
      resume: Effect.flatMap(Ref.get(current), (running) => signal(running, "SIGCONT")),
      pid: Effect.map(Ref.get(current), Option.map((running) => running.process.pid))
    } satisfies Server
  })

/**
 * The test server as a layer: `REDIS_URL` when it is set, a spawned server otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (options: ServerOptions = {}): Layer.Layer<RedisTest, RedisTestError> => {
  const url = process.env["REDIS_URL"]
  return url !== undefined && url !== ""
    ? Layer.succeed(RedisTest, external(url))
    : Layer.scoped(RedisTest, server(options)).pipe(Layer.provide(NodeContext.layer))
}

/**
 * A test server and a `Redis.Redis` connected to it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: ServerOptions & { readonly redis?: Omit<Redis.RedisOptions, "url" | "host" | "port"> } = {}
): Layer.Layer<RedisTest | Redis.Redis, RedisTestError | RedisError.RedisError> =>
  Layer.unwrapEffect(
    Effect.map(RedisTest, (server) => Redis.layer({ ...options.redis, url: server.url }))
  ).pipe(Layer.provideMerge(layerServer(options)))
