/**
 * The `Redis` service: one shared connection for ordinary commands, dedicated
 * connections for blocking reads, and a fan-out to every master node.
 *
 * Nothing below this module knows about Effect and nothing above it knows
 * about ioredis: every public module asks the context for {@link Redis}.
 *
 * @since 0.1.0
 */
import type { ConfigError, Scope } from "effect"
import { Config, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import { Cluster, Redis as IORedis } from "ioredis"
import type { ClusterOptions as IOClusterOptions, RedisOptions as IORedisOptions } from "ioredis"
import type { Arg, Command } from "./internal/redis/command.js"
import * as Slots from "./internal/redis/slots.js"
import * as Validate from "./internal/redis/validate.js"
import * as RedisError from "./RedisError.js"

export type {
  /**
   * @since 0.1.0
   * @category models
   */
  Arg,
  /**
   * @since 0.1.0
   * @category models
   */
  Command
} from "./internal/redis/command.js"

/**
 * Something commands can be sent to: the shared connection, one master node,
 * or a dedicated connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sender {
  /** Sends one command; the reply is returned as ioredis parsed it (strings, numbers, arrays, null). */
  readonly send: (command: string, args?: ReadonlyArray<Arg>) => Effect.Effect<unknown, RedisError.RedisError>
}

/**
 * One master node (the server itself when it is not a cluster).
 *
 * @since 0.1.0
 * @category models
 */
export interface Master extends Sender {
  /**
   * Sends many commands to this node in one round trip (failing with the
   * first error reply): for commands over keys this node holds, such as
   * the keys its SCAN returned.
   */
  readonly pipeline: (commands: ReadonlyArray<Command>) => Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError>
}

/**
 * A connection of its own, for blocking reads. It carries a name (CLIENT
 * SETNAME) so it can be found by `Consumer.unblock`, and its CLIENT ID.
 *
 * Interrupting a `send` on it drops the connection, which ends a blocking
 * read at once on the server; the next `send` connects again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection extends Sender {
  readonly name: string
  /**
   * Sends the commands in one write and returns their replies (failing with
   * the first error reply). Interrupting it drops the connection, as `send`.
   * On a cluster, every key must be in one slot.
   */
  readonly pipeline: (commands: ReadonlyArray<Command>) => Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError>
  /**
   * The CLIENT ID of the connection as last connected (it changes after a
   * reconnect). On a cluster, where it holds one connection per node it
   * talks to, that of the node of its last command with a key (0 before).
   */
  readonly clientId: Effect.Effect<number>
}

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends Sender {
  /** True when the service wraps a Redis Cluster. */
  readonly isCluster: boolean
  /**
   * Sends many commands in one round trip. Fails with the first error reply;
   * on a cluster, every key must be in one slot.
   */
  readonly pipeline: (commands: ReadonlyArray<Command>) => Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError>
  /**
   * Runs the commands in one MULTI/EXEC: all of them or none. Fails with the
   * first error reply; on a cluster, every key must be in one slot.
   */
  readonly transaction: (
    commands: ReadonlyArray<Command>
  ) => Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError>
  /**
   * A named dedicated connection for blocking reads, closed when the scope
   * closes. On a cluster it follows each key to its node, named on each.
   */
  readonly dedicated: (name: string) => Effect.Effect<Connection, RedisError.RedisError, Scope.Scope>
  /**
   * One sender per master node (one for a single server), for SCAN, CLIENT
   * LIST / UNBLOCK, and pipelines over the keys a master holds.
   */
  readonly masters: Effect.Effect<ReadonlyArray<Master>, RedisError.RedisError>
}

/**
 * The `Redis` service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Redis extends Context.Tag("effect-redis-streams/Redis")<Redis, Service>() {}

/**
 * What every connection of a layer shares, on one server or on each node of
 * a cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  readonly username?: string | undefined
  readonly password?: string | Redacted.Redacted<string> | undefined
  /** Use TLS (implied by a `rediss://` URL). */
  readonly tls?: boolean | undefined
  /** How long connecting may take before the layer fails. Default 5 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** A client-side timeout for non-blocking commands. Default none. */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** CLIENT SETNAME of the shared connection (of each of its node connections on a cluster). */
  readonly connectionName?: string | undefined
}

/**
 * How to reach a Redis server.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisOptions extends ConnectionOptions {
  /** A `redis://` or `rediss://` URL; the other fields override its parts. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly db?: number | undefined
  /** Anything else ioredis takes; applied last. */
  readonly ioredis?: IORedisOptions | undefined
}

/**
 * How to reach a Redis Cluster: the connection options of every node, and
 * the ioredis `Cluster` options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterOptions extends ConnectionOptions {
  /** Anything else the ioredis `Cluster` takes (its `redisOptions` go over ours); applied last. */
  readonly ioredis?: IOClusterOptions | undefined
}

/**
 * A startup node of a cluster: `"host:port"`, a `redis://` URL, or `{ host, port }`.
 *
 * @since 0.1.0
 * @category models
 */
export type ClusterNode = string | { readonly host: string; readonly port: number }

type Client = IORedis | Cluster

const noop = () => {}

const valueOf = (value: string | Redacted.Redacted<string>): string =>
  Redacted.isRedacted(value) ? Redacted.value(value) : value


/** On a cluster, refuses commands whose keys are in different slots before they are sent. */
const slotChecked = <A>(
  client: Client,
  what: string,
  commands: ReadonlyArray<Command>,
  effect: Effect.Effect<A, RedisError.RedisError>
): Effect.Effect<A, RedisError.RedisError> =>
  client instanceof Cluster ? Effect.zipRight(Slots.inOneSlot(what, commands), effect) : effect

const call = (client: Client, command: string, args: ReadonlyArray<Arg>): Effect.Effect<unknown, RedisError.RedisError> =>
  slotChecked(
    client,
    command,
    [[command, args]],
    Effect.tryPromise({
      try: () => client.call(command, ...args),
      catch: (cause) => named(RedisError.fromCause(command, cause), [command, args])
    })
  )

/** A missing key's error names the key (Redis says only `ERR no such key`). */
const named = (error: RedisError.RedisError, command: Command): RedisError.RedisError => {
  if (error.reason !== "NoSuchKey" || !/^ERR no such key$/i.test(error.message)) return error
  // XINFO's key follows its subcommand, which ioredis does not know
  const key = Slots.keysOf(command)[0] ?? (command[0].toUpperCase() === "XINFO" ? command[1][1] : undefined)
  return key === undefined ? error : new RedisError.RedisError({
    reason: "NoSuchKey",
    command: error.command,
    message: `${JSON.stringify(String(key))} does not exist (${command[0]}: ERR no such key)`,
    cause: error.cause
  })
}

const senderOf = (client: Client): Sender => ({
  send: (command, args = []) => call(client, command, args)
})

const masterOf = (node: IORedis): Master => ({
  ...senderOf(node),
  pipeline: (commands) => runBatch(node, commands, false)
})

/** The connection options every connection shares, checked (durations, the connection name). */
const connectionOptions = (options: ConnectionOptions): Effect.Effect<IORedisOptions, RedisError.RedisError> =>
  Effect.gen(function*() {
    const commandTimeout = options.commandTimeout === undefined
      ? undefined
      : yield* Validate.positiveMillis("CONNECT", "commandTimeout", options.commandTimeout)
    if (options.connectionName !== undefined) yield* validateName("CONNECT", "connectionName", options.connectionName)
    return {
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: valueOf(options.password) } : {}),
      ...(options.tls ? { tls: {} } : {}),
      ...(commandTimeout !== undefined ? { commandTimeout } : {}),
      ...(options.connectionName !== undefined ? { connectionName: options.connectionName } : {}),
      connectTimeout: yield* Validate.positiveMillis("CONNECT", "connectTimeout", options.connectTimeout ?? "5 seconds")
    }
  })

const badAddress = (message: string) => Effect.fail(RedisError.invalidArgument("CONNECT", message))

/** A TCP port: an integer from 1 to 65535. */
const checkPort = (port: number | undefined) =>
  port === undefined || (Number.isInteger(port) && port >= 1 && port <= 65_535)
    ? Effect.void
    : badAddress(`port must be an integer from 1 to 65535, got ${port}`)

/** A database index: an integer of 0 or more (the server says how many it has). */
const checkDb = (db: number | undefined) =>
  db === undefined || (Number.isSafeInteger(db) && db >= 0) ? Effect.void : badAddress(`db must be an integer of 0 or more, got ${db}`)

/**
 * A `redis://` or `rediss://` URL, checked before ioredis sees it (which
 * throws on some malformed ones and reads others as something else): its
 * port, and its path, which is empty or a database number. The message
 * never repeats the URL (it may hold a password).
 */
const checkUrl = (url: string) =>
  Effect.gen(function*() {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return yield* badAddress("url is not a URL (expected redis://[user:password@]host[:port][/db])")
    }
    if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
      return yield* badAddress(`url must start with redis:// or rediss://, got ${parsed.protocol}//`)
    }
    const path = parsed.pathname.replace(/^\//, "")
    if (path !== "" && !/^\d+$/.test(path)) return yield* badAddress(`the url's path must be a database number, got /${path}`)
    if (parsed.port !== "") yield* checkPort(Number(parsed.port))
    return path === "" ? undefined : Number(path)
  })

const ioredisOptions = (options: RedisOptions) =>
  Effect.gen(function*() {
    yield* checkPort(options.port)
    yield* checkDb(options.db)
    const shared = yield* connectionOptions(options)
    return {
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.db !== undefined ? { db: options.db } : {}),
      ...shared,
      ...options.ioredis,
      lazyConnect: true
    } satisfies IORedisOptions
  })

const clusterOptions = (options: ClusterOptions) =>
  Effect.map(connectionOptions(options), (shared): IOClusterOptions => ({
    ...options.ioredis,
    redisOptions: { ...shared, ...options.ioredis?.redisOptions },
    lazyConnect: true
  }))

const nodeKey = (node: IORedis): string => `${node.options.host ?? "localhost"}:${node.options.port ?? 6379}`

const mastersOf = (client: Client): ReadonlyArray<IORedis> => client instanceof Cluster ? client.nodes("master") : [client]

const describe = (client: Client): string =>
  client instanceof Cluster ? `the Redis Cluster at ${mastersOf(client).map(nodeKey).join(", ")}` : `Redis at ${nodeKey(client)}`

const connectTimeoutOf = (client: Client): number =>
  (client instanceof Cluster ? client.options.redisOptions?.connectTimeout : client.options.connectTimeout) ?? 10_000

/**
 * Connects a lazily created client, failing with reason `Connection` within
 * its connect timeout; on failure the client is disconnected, so it does not
 * go on retrying in the background.
 */
const connect = (client: Client, where: string = describe(client)): Effect.Effect<void, RedisError.RedisError> => {
  let lastError: unknown = undefined
  const onError = (error: unknown) => {
    lastError = error
  }
  client.on("error", onError)
  return Effect.tryPromise({
    try: () => client.connect(),
    catch: (cause) => lastError ?? cause
  }).pipe(
    Effect.timeoutFail({
      duration: connectTimeoutOf(client) + 1_000,
      onTimeout: () => lastError ?? new Error("connect timed out")
    }),
    Effect.mapError((cause) =>
      new RedisError.RedisError({
        // a refused password fails every attempt alike: not a connection to retry
        reason: RedisError.reasonOf(cause) === "Auth" ? "Auth" : "Connection",
        command: "CONNECT",
        message: `cannot connect to ${where}: ${cause instanceof Error ? cause.message : "connection closed"}`,
        cause
      })
    ),
    Effect.tapError(() => Effect.sync(() => client.disconnect())),
    Effect.onInterrupt(() => Effect.sync(() => client.disconnect())),
    Effect.ensuring(Effect.sync(() => {
      client.off("error", onError)
      client.on("error", noop)
    }))
  )
}

const close = (client: Client): Effect.Effect<void> =>
  Effect.tryPromise(() => client.quit()).pipe(
    Effect.timeout("1 second"),
    Effect.ignore,
    Effect.ensuring(Effect.sync(() => client.disconnect()))
  )

/**
 * Connects the client and quits it when the scope closes. Connecting is
 * interruptible (an acquisition is not by default): the connect timeout,
 * and any outer timeout, must be able to end a connection that hangs.
 */
const acquire = (client: Client, where?: string): Effect.Effect<void, RedisError.RedisError, Scope.Scope> =>
  Effect.acquireRelease(Effect.interruptible(connect(client, where)), () => close(client))

const execOf = (
  commands: ReadonlyArray<Command>,
  results: Array<[Error | null, unknown]> | null
): Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError> => {
  if (results === null) {
    return Effect.fail(
      new RedisError.RedisError({ reason: "Command", command: "EXEC", message: "transaction aborted" })
    )
  }
  const values: Array<unknown> = []
  for (let i = 0; i < results.length; i++) {
    const [error, value] = results[i]!
    if (error !== null) return Effect.fail(named(RedisError.fromCause(commands[i]?.[0] ?? "EXEC", error), commands[i] ?? ["EXEC", []]))
    values.push(value)
  }
  return Effect.succeed(values)
}

const runBatch = (
  client: Client,
  commands: ReadonlyArray<Command>,
  atomic: boolean
): Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError> => {
  if (commands.length === 0) return Effect.succeed([])
  return slotChecked(
    client,
    atomic ? "MULTI" : "pipeline",
    commands,
    Effect.tryPromise({
      try: () => {
        const batch = atomic ? client.multi() : client.pipeline()
        // `call` takes any command name; the array form of pipeline() only knows lower-case method names.
        for (const [command, args] of commands) batch.call(command, ...args)
        return batch.exec()
      },
      catch: (cause) => RedisError.fromCause(atomic ? "EXEC" : commands[0]![0], cause)
    }).pipe(Effect.flatMap((results) => execOf(commands, results)))
  )
}

const whitespace = /\s/

/**
 * Refuses an empty name or one with whitespace (Redis names of streams,
 * groups and connections are single words).
 *
 * @since 0.1.0
 * @category validation
 */
export const validateName = (command: string, what: string, name: string): Effect.Effect<string, RedisError.RedisError> =>
  name.length === 0 || whitespace.test(name)
    ? Effect.fail(RedisError.invalidArgument(command, `${what} must be non-empty without whitespace, got ${JSON.stringify(name)}`))
    : Effect.succeed(name)

const dedicatedOptions = (name: string) => ({
  connectionName: name,
  // A read in flight fails as soon as the connection is lost instead of
  // being re-sent or silently dropped; the caller's Schedule retries.
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false
})

/** A lazily connecting copy of the client whose every node connection carries `name`. */
const duplicateNamed = (client: Client, name: string): Client =>
  client instanceof Cluster
    ? client.duplicate([], {
      lazyConnect: true,
      redisOptions: { ...client.options.redisOptions, ...dedicatedOptions(name) }
    })
    : client.duplicate({ ...dedicatedOptions(name), lazyConnect: true })

/**
 * The CLIENT ID of each node connection of a client, and the node a command
 * goes to (the one holding its first key on a cluster). An id is asked for
 * as soon as a node connection is up, ahead of the commands queued for it
 * (CLIENT is a handshake command), so a blocking read does not delay it.
 */
const clientIds = (client: Client) => {
  const ids = new Map<string, number>()
  let latest: Promise<void> = Promise.resolve()
  const refresh = (node: IORedis) => {
    latest = node.client("ID").then((id) => {
      ids.set(nodeKey(node), id)
    }, noop)
  }
  const track = (node: IORedis) => node.on("connect", () => refresh(node))
  let current = client instanceof Cluster ? undefined : nodeKey(client)
  if (client instanceof Cluster) client.on("+node", track)
  else track(client)
  return {
    route: (command: Command) => {
      if (!(client instanceof Cluster)) return
      const key = Slots.keysOf(command)[0]
      if (key !== undefined) current = client.slots[Slots.slotOf(key)]?.[0] ?? current
    },
    current: Effect.sync(() => (current === undefined ? 0 : ids.get(current) ?? 0)),
    /** Waits for the id asked for last (right after connecting a single server, its id). */
    settled: Effect.promise(() => latest)
  }
}

const makeDedicated = (client: Client, name: string): Effect.Effect<Connection, RedisError.RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validateName("CLIENT SETNAME", "connection name", name)
    const connection = duplicateNamed(client, name)
    const ids = clientIds(connection)
    const where = describe(client)
    yield* acquire(connection, where)
    yield* ids.settled
    // ioredis does not reconnect a connection closed by hand; one closed while
    // it was waiting to reconnect stays "reconnecting" and never emits "end".
    let dropped = false
    const reconnectIfDropped = Effect.suspend(() =>
      dropped || connection.status === "end"
        ? Effect.tap(connect(connection, where), () => (dropped = false))
        : Effect.void
    )
    const drop = Effect.async<void>((resume) => {
      dropped = true
      const live = connection.status === "ready" || connection.status === "connect" ||
        connection.status === "connecting"
      if (live) connection.once("end", () => resume(Effect.void))
      connection.disconnect()
      if (!live) resume(Effect.void)
    }).pipe(Effect.timeoutOption("1 second"), Effect.asVoid)
    const guarded = <A>(first: Command, effect: Effect.Effect<A, RedisError.RedisError>) =>
      reconnectIfDropped.pipe(
        Effect.tap(() => ids.route(first)),
        Effect.zipRight(effect),
        Effect.onInterrupt(() => drop)
      )
    return {
      name,
      clientId: ids.current,
      send: (command, args = []) => guarded([command, args], call(connection, command, args)),
      pipeline: (commands) =>
        commands.length === 0 ? Effect.succeed([]) : guarded(commands[0]!, runBatch(connection, commands, false))
    } satisfies Connection
  })

/**
 * The service over an ioredis client (`Redis` or `Cluster`) the caller manages.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromClient = (client: IORedis | Cluster): Service => ({
  isCluster: client instanceof Cluster,
  ...senderOf(client),
  pipeline: (commands) => runBatch(client, commands, false),
  transaction: (commands) => runBatch(client, commands, true),
  dedicated: (name) => makeDedicated(client, name),
  masters: Effect.suspend(() => {
    const masters = mastersOf(client)
    return masters.length > 0 ? Effect.succeed(masters.map(masterOf)) : Effect.fail(
      new RedisError.RedisError({ reason: "Connection", command: "CLUSTER NODES", message: "no master node is known: the cluster is not connected" })
    )
  })
})

/**
 * Connects to Redis (failing with reason `Connection` within the connect
 * timeout) and quits when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RedisOptions | string): Effect.Effect<Service, RedisError.RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const opts: RedisOptions = typeof options === "string" ? { url: options } : options
    const url = opts.url === undefined ? undefined : valueOf(opts.url)
    const urlDb = url === undefined ? undefined : yield* checkUrl(url)
    const settings = yield* ioredisOptions(opts)
    const client = yield* Effect.try({
      try: () => (url === undefined ? new IORedis(settings) : new IORedis(url, settings)),
      catch: (cause) => RedisError.invalidArgument("CONNECT", `ioredis refused the settings: ${cause instanceof Error ? cause.message : String(cause)}`)
    })
    yield* acquire(client)
    yield* selectDb(client, opts.db ?? urlDb)
    return fromClient(client)
  })

/**
 * Checks the database the client selected: ioredis sends SELECT when it
 * connects but only logs a refusal, and goes on with database 0.
 */
const selectDb = (client: IORedis, db: number | undefined) =>
  db === undefined || db === 0 ? Effect.void : call(client, "SELECT", [db]).pipe(
    Effect.mapError((error) =>
      error.reason === "Command"
        ? RedisError.invalidArgument("SELECT", `the server has no database ${db}: ${error.message}`)
        : error
    ),
    Effect.asVoid
  )

/**
 * Connects to a Redis Cluster through any of its nodes (failing with reason
 * `Connection` within the connect timeout) and quits every node connection
 * when the scope closes.
 *
 * On a cluster, `pipeline`, `transaction` and multi-key commands need all
 * their keys in one hash slot: they fail with reason `CrossSlot`, naming the
 * keys, before anything is sent. `dedicated` connections follow each key to
 * its node, and `masters` is one sender per master node.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCluster = (
  nodes: ReadonlyArray<ClusterNode>,
  options: ClusterOptions = {}
): Effect.Effect<Service, RedisError.RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const startup = nodes.map((node) => (typeof node === "string" ? node : { host: node.host, port: node.port }))
    const client = new Cluster(startup, yield* clusterOptions(options))
    const where = `the Redis Cluster at ${nodes.map((node) => (typeof node === "string" ? node : `${node.host}:${node.port}`)).join(", ")}`
    yield* acquire(client, where)
    return fromClient(client)
  })

/**
 * A layer connected to one Redis server, from options or a URL.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RedisOptions | string): Layer.Layer<Redis, RedisError.RedisError> =>
  Layer.scoped(Redis, make(options))

/**
 * A layer connected to a Redis Cluster (see {@link makeCluster}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCluster = (
  nodes: ReadonlyArray<ClusterNode>,
  options?: ClusterOptions
): Layer.Layer<Redis, RedisError.RedisError> => Layer.scoped(Redis, makeCluster(nodes, options))

/**
 * A layer from `Config`; by default the URL is read from `REDIS_URL` and
 * falls back to `redis://localhost:6379`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<RedisOptions | string> = Config.redacted("REDIS_URL").pipe(
    Config.option,
    Config.map((url): RedisOptions => ({ url: Option.getOrElse(url, () => Redacted.make("redis://localhost:6379")) }))
  )
): Layer.Layer<Redis, RedisError.RedisError | ConfigError.ConfigError> =>
  Layer.scoped(Redis, Effect.flatMap(config, make))

/**
 * Wraps a client (`Redis` or `Cluster`) the caller owns: it is neither
 * connected nor closed by the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (client: IORedis | Cluster): Layer.Layer<Redis> => Layer.succeed(Redis, fromClient(client))

/**
 * Sends a command on every master node, returning one reply per master.
 *
 * @since 0.1.0
 * @category combinators
 */
export const onMasters = (
  command: string,
  args: ReadonlyArray<Arg> = []
): Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError, Redis> =>
  Effect.flatMap(Redis, (redis) => redis.masters).pipe(
    Effect.flatMap((masters) => Effect.forEach(masters, (master) => master.send(command, args), { concurrency: "unbounded" }))
  )
