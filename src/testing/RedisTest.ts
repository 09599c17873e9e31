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
 * `layerCluster()` spawns a real Redis Cluster of three masters instead, set
 * up over the protocol (no `redis-cli`); with `REDIS_CLUSTER_URLS` set (the
 * nodes' `redis://` URLs, comma-separated) it uses that cluster instead.
 *
 * Spawned servers cannot outlive the process that spawned them on Linux
 * (where `setpriv` gives them a parent-death signal): a test run killed from
 * outside leaves no `redis-server` behind.
 *
 * @since 0.1.0
 */
import { Command, CommandExecutor, FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import type { Scope } from "effect"
import { Clock, Context, Duration, Effect, Exit, Layer, Option, Ref, Schema, Scope as ScopeModule } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Replies from "../internal/redis/replies.js"
import * as Validate from "../internal/redis/validate.js"
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

/** Binds `port` (0: any) for a moment and returns the port bound. */
const bind = (port: number): Effect.Effect<number, RedisTestError> =>
  Effect.async<number, RedisTestError>((resume) => {
    const server = Net.createServer()
    server.unref()
    server.once("error", (cause) => resume(Effect.fail(new RedisTestError({ reason: "Start", message: "no free port", cause }))))
    server.listen(port, HOST, () => {
      const address = server.address()
      const bound = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(bound)))
    })
  })

/**
 * A TCP port nobody listens on right now.
 *
 * @since 0.1.0
 * @category utils
 */
export const freePort: Effect.Effect<number, RedisTestError> = bind(0)

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

/** The path of an executable: itself when it names a path, otherwise looked up on `PATH`. */
const onPath = (bin: string): string | undefined => {
  const executable = (path: string) => {
    try {
      Fs.accessSync(path, Fs.constants.X_OK)
      return Fs.statSync(path).isFile()
    } catch {
      return false
    }
  }
  if (bin.includes("/")) return executable(bin) ? bin : undefined
  return (process.env["PATH"] ?? "").split(":").map((dir) => `${dir || "."}/${bin}`).find(executable)
}

/**
 * How the server is launched so that it cannot outlive this process: on
 * Linux through util-linux's `setpriv --pdeathsig SIGKILL`, which sets the
 * parent-death signal and then execs the server (same pid), so a test
 * process killed from outside (SIGKILL, `timeout`) takes its servers with
 * it. Elsewhere, or without `setpriv`, the server is spawned directly and
 * only the scope's finalizer stops it.
 */
const launcher: ReadonlyArray<string> = process.platform === "linux" && onPath("setpriv") !== undefined
  ? ["setpriv", "--pdeathsig", "SIGKILL", "--"]
  : []

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
    const startTimeout: number = yield* Effect.mapError(
      Validate.positiveMillis("RedisTest.server", "startTimeout", options.startTimeout ?? "10 seconds"),
      (error) => new RedisTestError({ reason: "Start", message: error.message })
    )
    const bin = binary()
    // setpriv would report a missing server only as its own exit code: look first
    if (launcher.length > 0 && onPath(bin) === undefined) return yield* missingBinary(bin, undefined)
    const scope = yield* ScopeModule.make()
    const [program, ...args] = [...launcher, bin, ...serverArgs(port, dir, options)]
    const command = Command.make(program!, ...args).pipe(Command.stderr("inherit"))
    const process = yield* Command.start(command).pipe(
      ScopeModule.extend(scope),
      Effect.mapError((cause) =>
        cause._tag === "SystemError" && cause.reason === "NotFound"
          ? missingBinary(bin, cause)
          : new RedisTestError({ reason: "Start", message: `cannot start ${bin}: ${cause.message}`, cause })
      ),
      Effect.onError(() => ScopeModule.close(scope, Exit.void))
    )
    const deadline = Date.now() + startTimeout
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

const external = (url: string, variable = "REDIS_URL"): Server => {
  const parsed = new URL(url)
  const refuse = Effect.fail(new RedisTestError({ reason: "Control", message: `${variable} is set (${url}): the server is not ours to control` }))
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

/** A server on a port from `pickPort`, retried on another port when it cannot bind. */
const serverOn = (
  options: ServerOptions,
  pickPort: Effect.Effect<number, RedisTestError>
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
      port = yield* pickPort
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
  serverOn(options, freePort)

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

/**
 * How to start a test cluster: the options of each node, and how many masters.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterServerOptions extends ServerOptions {
  /** How many master nodes share the 16384 slots. Default 3. */
  readonly masters?: number | undefined
}

/**
 * A running test cluster: one {@link Server} per master node, each with its
 * own fault controls.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterServer {
  /** The master nodes, in slot order (the first holds slot 0). */
  readonly nodes: ReadonlyArray<Server>
  /** `redis://host:port` of every node: the startup nodes for `Redis.layerCluster`. */
  readonly urls: ReadonlyArray<string>
  /** Waits until every running node reports `cluster_state:ok` (e.g. after restarting a node). */
  readonly waitUntilOk: Effect.Effect<void, RedisTestError>
}

/**
 * The tag of the running test cluster.
 *
 * @since 0.1.0
 * @category tags
 */
export class RedisTestCluster
  extends Context.Tag("effect-redis-streams/RedisTestCluster")<RedisTestCluster, ClusterServer>()
{}

const SLOTS = 16_384
const BUS_PORT_OFFSET = 10_000

/** A free port whose cluster bus port (port + 10000) is free too. */
const clusterPort = Effect.gen(function*() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = yield* freePort
    if (port + BUS_PORT_OFFSET < 65_536 && Option.isSome(yield* Effect.option(bind(port + BUS_PORT_OFFSET)))) return port
  }
  return yield* new RedisTestError({ reason: "Start", message: "no free port with a free cluster bus port (port + 10000)" })
})

const clusterArgs = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"]

/** The slots of master `index` of `masters`, as CLUSTER ADDSLOTS arguments. */
const slotsOf = (index: number, masters: number): ReadonlyArray<number> => {
  const from = Math.floor((SLOTS * index) / masters)
  const to = Math.floor((SLOTS * (index + 1)) / masters)
  return Array.from({ length: to - from }, (_, i) => from + i)
}

/** Connects to each running node for the duration of `f`. */
const withNodes = <A>(
  nodes: ReadonlyArray<Server>,
  f: (clients: ReadonlyArray<Redis.Service>) => Effect.Effect<A, RedisError.RedisError | RedisTestError>
): Effect.Effect<A, RedisTestError> =>
  Effect.forEach(nodes, (node) => Redis.make(node.url), { concurrency: "unbounded" }).pipe(
    Effect.flatMap(f),
    Effect.scoped,
    Effect.mapError((error) =>
      error._tag === "RedisError"
        ? new RedisTestError({ reason: "Start", message: `cannot set up the cluster: ${error.message}`, cause: error })
        : error
    )
  )

const clusterOk = (client: Redis.Service) =>
  client.send("CLUSTER", ["INFO"]).pipe(
    Effect.flatMap((reply) => Replies.infoText("CLUSTER INFO", reply)),
    Effect.map((info) => info["cluster_state"] === "ok")
  )

/** Polls CLUSTER INFO on every one of `nodes` until all say `cluster_state:ok`. */
const pollOk = (nodes: ReadonlyArray<Server>, timeout: Duration.DurationInput): Effect.Effect<void, RedisTestError> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(timeout))
    yield* withNodes(nodes, (clients) =>
      Effect.gen(function*() {
        while (!(yield* Effect.forEach(clients, clusterOk)).every((ok) => ok)) {
          if (Date.now() > deadline) {
            return yield* new RedisTestError({ reason: "Start", message: "the cluster did not reach cluster_state:ok" })
          }
          yield* Effect.sleep("50 millis")
        }
      }))
  }).pipe(Effect.withClock(liveClock))

/** {@link pollOk} over the nodes that run (a stopped node is left out). */
const waitUntilOk = (nodes: ReadonlyArray<Server>, timeout: Duration.DurationInput): Effect.Effect<void, RedisTestError> =>
  Effect.flatMap(Effect.filter(nodes, (node) => Effect.map(node.pid, Option.isSome)), (running) => pollOk(running, timeout))

/** A cluster someone else runs, from its nodes' URLs: its nodes are not ours to control. */
const externalCluster = (urls: ReadonlyArray<string>, timeout: Duration.DurationInput): ClusterServer => {
  const nodes = urls.map((url) => external(url, "REDIS_CLUSTER_URLS"))
  return { nodes, urls, waitUntilOk: pollOk(nodes, timeout) }
}

/** The nodes named by `REDIS_CLUSTER_URLS` (comma-separated `redis://` URLs), if it is set. */
const clusterUrlsFromEnv = (): ReadonlyArray<string> | undefined => {
  const urls = (process.env["REDIS_CLUSTER_URLS"] ?? "").split(",").map((url) => url.trim()).filter((url) => url !== "")
  return urls.length > 0 ? urls : undefined
}

/**
 * Spawns a real Redis Cluster of `masters` (default 3) nodes on free ports,
 * assigns the slots (CLUSTER ADDSLOTS) and joins the nodes (CLUSTER MEET)
 * over the protocol, no `redis-cli` needed, and waits until every node
 * reports `cluster_state:ok`. The nodes are killed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cluster = (
  options: ClusterServerOptions = {}
): Effect.Effect<ClusterServer, RedisTestError, Scope.Scope | CommandExecutor.CommandExecutor | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const masters = options.masters ?? 3
    const nodeOptions = { ...options, args: [...clusterArgs, ...(options.args ?? [])] }
    const nodes = yield* Effect.forEach(
      Array.from({ length: masters }),
      () => serverOn(nodeOptions, clusterPort),
      { concurrency: "unbounded" }
    )
    yield* withNodes(nodes, (clients) =>
      Effect.gen(function*() {
        yield* Effect.forEach(clients, (client, i) => client.send("CLUSTER", ["ADDSLOTS", ...slotsOf(i, masters)]), {
          concurrency: "unbounded"
        })
        yield* Effect.forEach(nodes.slice(1), (node) => clients[0]!.send("CLUSTER", ["MEET", node.host, node.port]))
      }))
    const timeout = options.startTimeout ?? "10 seconds"
    yield* waitUntilOk(nodes, timeout)
    return { nodes, urls: nodes.map((node) => node.url), waitUntilOk: waitUntilOk(nodes, timeout) } satisfies ClusterServer
  })

/**
 * The test cluster as a layer: the cluster named by `REDIS_CLUSTER_URLS`
 * (comma-separated node URLs, read when the layer is built) when it is set,
 * a spawned one otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClusterServer = (options: ClusterServerOptions = {}): Layer.Layer<RedisTestCluster, RedisTestError> =>
  Layer.unwrapEffect(Effect.sync(() => {
    const urls = clusterUrlsFromEnv()
    if (urls === undefined) return Layer.scoped(RedisTestCluster, cluster(options)).pipe(Layer.provide(NodeContext.layer))
    const existing = externalCluster(urls, options.startTimeout ?? "10 seconds")
    return Layer.effect(RedisTestCluster, Effect.as(existing.waitUntilOk, existing))
  }))

/**
 * A test cluster (three masters by default) and a `Redis.Redis` connected to it
 * (`Redis.layerCluster`): the cluster named by `REDIS_CLUSTER_URLS` when it
 * is set (`REDIS_URL` does not apply), a spawned one otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCluster = (
  options: ClusterServerOptions & { readonly redis?: Redis.ClusterOptions } = {}
): Layer.Layer<RedisTestCluster | Redis.Redis, RedisTestError | RedisError.RedisError> =>
  Layer.unwrapEffect(
    Effect.map(RedisTestCluster, (cluster) => Redis.layerCluster(cluster.urls, options.redis))
  ).pipe(Layer.provideMerge(layerClusterServer(options)))
