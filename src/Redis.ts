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
import { Redis as IORedis } from "ioredis"
import type { RedisOptions as IORedisOptions } from "ioredis"
import * as RedisError from "./RedisError.js"

/**
 * An argument of a Redis command.
 *
 * @since 0.1.0
 * @category models
 */
export type Arg = string | number | Buffer

/**
 * A command and its arguments, as sent in a pipeline or a transaction.
 *
 * @since 0.1.0
 * @category models
 */
export type Command = readonly [command: string, args: ReadonlyArray<Arg>]

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
  /** The CLIENT ID of the connection as last connected (it changes after a reconnect). */
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
  /** A named dedicated connection for blocking reads, closed when the scope closes. */
  readonly dedicated: (name: string) => Effect.Effect<Connection, RedisError.RedisError, Scope.Scope>
  /** One sender per master node (one for a single server). */
  readonly masters: Effect.Effect<ReadonlyArray<Sender>, RedisError.RedisError>
}

/**
 * The `Redis` service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Redis extends Context.Tag("effect-redis-streams/Redis")<Redis, Service>() {}

/**
 * How to reach a Redis server.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisOptions {
  /** A `redis://` or `rediss://` URL; the other fields override its parts. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly username?: string | undefined
  readonly password?: string | Redacted.Redacted<string> | undefined
  readonly db?: number | undefined
  /** Use TLS (implied by a `rediss://` URL). */
  readonly tls?: boolean | undefined
  /** How long connecting may take before the layer fails. Default 5 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** A client-side timeout for non-blocking commands. Default none. */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** CLIENT SETNAME of the shared connection. */
  readonly connectionName?: string | undefined
  /** Anything else ioredis takes; applied last. */
  readonly ioredis?: IORedisOptions | undefined
}

const noop = () => {}

const valueOf = (value: string | Redacted.Redacted<string>): string =>
  Redacted.isRedacted(value) ? Redacted.value(value) : value

const toMillis = (input: Duration.DurationInput): number => Duration.toMillis(Duration.decode(input))

const call = (client: IORedis, command: string, args: ReadonlyArray<Arg>): Effect.Effect<unknown, RedisError.RedisError> =>
  Effect.tryPromise({
    try: () => client.call(command, ...args),
    catch: (cause) => RedisError.fromCause(command, cause)
  })

const senderOf = (client: IORedis): Sender => ({
  send: (command, args = []) => call(client, command, args)
})

const ioredisOptions = (options: RedisOptions): IORedisOptions => ({
  ...(options.host !== undefined ? { host: options.host } : {}),
  ...(options.port !== undefined ? { port: options.port } : {}),
  ...(options.username !== undefined ? { username: options.username } : {}),
  ...(options.password !== undefined ? { password: valueOf(options.password) } : {}),
  ...(options.db !== undefined ? { db: options.db } : {}),
  ...(options.tls ? { tls: {} } : {}),
  ...(options.commandTimeout !== undefined ? { commandTimeout: toMillis(options.commandTimeout) } : {}),
  ...(options.connectionName !== undefined ? { connectionName: options.connectionName } : {}),
  connectTimeout: toMillis(options.connectTimeout ?? "5 seconds"),
  ...options.ioredis,
  lazyConnect: true
})

const describe = (client: IORedis): string => `${client.options.host ?? "localhost"}:${client.options.port ?? 6379}`

/**
 * Connects a lazily created client, failing with reason `Connection` within
 * its connect timeout; on failure the client is disconnected, so it does not
 * go on retrying in the background.
 */
const connect = (client: IORedis): Effect.Effect<void, RedisError.RedisError> => {
  let lastError: unknown = undefined
  const onError = (error: unknown) => {
    lastError = error
  }
  client.on("error", onError)
  const timeout = (client.options.connectTimeout ?? 10_000) + 1_000
  return Effect.tryPromise({
    try: () => client.connect(),
    catch: () => lastError
  }).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => lastError ?? new Error("connect timed out") }),
    Effect.mapError((cause) =>
      new RedisError.RedisError({
        reason: "Connection",
        command: "CONNECT",
        message: `cannot connect to Redis at ${describe(client)}: ${
          cause instanceof Error ? cause.message : "connection closed"
        }`,
        cause
      })
    ),
    Effect.tapError(() => Effect.sync(() => client.disconnect())),
    Effect.ensuring(Effect.sync(() => {
      client.off("error", onError)
      client.on("error", noop)
    }))
  )
}

const close = (client: IORedis): Effect.Effect<void> =>
  Effect.tryPromise(() => client.quit()).pipe(
    Effect.timeout("1 second"),
    Effect.ignore,
    Effect.ensuring(Effect.sync(() => client.disconnect()))
  )

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
    if (error !== null) return Effect.fail(RedisError.fromCause(commands[i]?.[0] ?? "EXEC", error))
    values.push(value)
  }
  return Effect.succeed(values)
}

const runBatch = (
  client: IORedis,
  commands: ReadonlyArray<Command>,
  atomic: boolean
): Effect.Effect<ReadonlyArray<unknown>, RedisError.RedisError> => {
  if (commands.length === 0) return Effect.succeed([])
  return Effect.tryPromise({
    try: () => {
      const batch = atomic ? client.multi() : client.pipeline()
      // `call` takes any command name; the array form of pipeline() only knows lower-case method names.
      for (const [command, args] of commands) batch.call(command, ...args)
      return batch.exec()
    },
    catch: (cause) => RedisError.fromCause(atomic ? "EXEC" : commands[0]![0], cause)
  }).pipe(Effect.flatMap((results) => execOf(commands, results)))
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

const makeDedicated = (client: IORedis, name: string): Effect.Effect<Connection, RedisError.RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validateName("CLIENT SETNAME", "connection name", name)
    const connection = client.duplicate({
      connectionName: name,
      lazyConnect: true,
      // A read in flight fails as soon as the connection is lost instead of
      // being re-sent or silently dropped; the caller's Schedule retries.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false
    })
    yield* Effect.acquireRelease(connect(connection), () => close(connection))
    let clientId = Number(yield* call(connection, "CLIENT", ["ID"]))
    const refreshId = () => {
      connection.call("CLIENT", "ID").then((id) => {
        clientId = Number(id)
      }, noop)
    }
    connection.on("ready", refreshId)
    // ioredis does not reconnect a connection closed by hand; one closed while
    // it was waiting to reconnect stays "reconnecting" and never emits "end".
    let dropped = false
    const reconnectIfDropped = Effect.suspend(() =>
      dropped || connection.status === "end"
        ? Effect.zipLeft(connect(connection), Effect.sync(() => {
          dropped = false
        }))
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
    return {
      name,
      clientId: Effect.sync(() => clientId),
      send: (command, args = []) =>
        reconnectIfDropped.pipe(
          Effect.zipRight(call(connection, command, args)),
          Effect.onInterrupt(() => drop)
        )
    } satisfies Connection
  })

/**
 * The service over an ioredis client the caller manages.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromClient = (client: IORedis): Service => ({
  isCluster: false,
  send: (command, args = []) => call(client, command, args),
  pipeline: (commands) => runBatch(client, commands, false),
  transaction: (commands) => runBatch(client, commands, true),
  dedicated: (name) => makeDedicated(client, name),
  masters: Effect.succeed([senderOf(client)])
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
    const client = opts.url === undefined
      ? new IORedis(ioredisOptions(opts))
      : new IORedis(valueOf(opts.url), ioredisOptions(opts))
    yield* Effect.acquireRelease(connect(client), () => close(client))
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
 * Wraps a client the caller owns: it is neither connected nor closed by the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromClient = (client: IORedis): Layer.Layer<Redis> => Layer.succeed(Redis, fromClient(client))

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
