/**
 * A live web dashboard of every stream, consumer group, consumer and
 * dead-letter stream, served with `@effect/platform`'s `HttpServer`: one
 * page (`GET /`) refreshed by Server-Sent Events, and the JSON endpoints it
 * uses, which scripts can use too.
 *
 * ```ts
 * import { Layer } from "effect"
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Redis } from "effect-redis-streams"
 * import { Dashboard } from "effect-redis-streams/dashboard"
 *
 * // http://127.0.0.1:7890, refreshed every second
 * Dashboard.layer({ port: 7890 }).pipe(Layer.provide(Redis.layerConfig()), Layer.launch, NodeRuntime.runMain)
 * ```
 *
 * | endpoint | what |
 * | --- | --- |
 * | `GET /api/snapshot` | the latest refresh: streams, groups with their history, dead-letter streams |
 * | `GET /api/events` | the same as Server-Sent Events, one `snapshot` event per refresh |
 * | `GET /api/streams` | the streams of the latest refresh |
 * | `GET /api/streams/:stream/groups` | the stream's groups and consumers, read now |
 * | `GET /api/streams/:stream/groups/:group` | `Groups.stats` (`delayed.nextDue` in epoch ms, or null) |
 * | `GET /api/streams/:stream/entries?from=ID&count=N` | `Streams.read` |
 * | `GET /api/dlq/:dlq?count=N` | `Gc.deadLetters` |
 * | `POST /api/dlq/:dlq/redrive?count=N&stream=S` | `Gc.redrive` |
 * | `POST /api/streams/:stream/groups/:group/gc?dryRun=true` | one `Gc.collect` pass, its actions |
 * | `POST /api/streams/:stream/groups/:group/pause`, `…/resume` | `Groups.pause` / `Groups.resume`: `{ stream, group, paused }` |
 * | `GET /healthz` | 200 when Redis answers PING within `probes.timeout`, else 503 |
 * | `GET /readyz` | 200 when Redis answers and every consumer of this process read within `probes.maxAge` (`Consumer.readiness`), else 503 |
 *
 * Keys in paths are URL-encoded (names contain `/`). Bad input gets a 4xx
 * with `{ error, message }` (a `RedisError`'s reason, or `Unauthorized`,
 * `Forbidden`, `BadRequest`, `NotFound`); Redis being unreachable is a 503.
 *
 * Safety: every route decides its own authorisation (paths match
 * case-sensitively; there is no prefix rule to get around). `layer` binds to
 * 127.0.0.1 unless told otherwise; a request whose `Host` is not an IP
 * address, `localhost`, the bound host or one of `allowedHosts` is refused
 * with 403 (a DNS-rebinding page cannot reach it); every answer forbids
 * framing (`X-Frame-Options: DENY`, `frame-ancestors 'none'`); `readOnly`
 * refuses every POST with 403; a POST whose `Origin` is not the dashboard's
 * own is refused with 403 (so a page elsewhere cannot redrive through an
 * operator's browser); with `token` set every `/api/*` request needs
 * `Authorization: Bearer <token>` (the page reads it from its `#token=`
 * fragment; the probes need none: their bodies hold counts, no names); every key a request names must match `pattern` (404
 * otherwise); `count` is at most 1 000.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { Duration, Scope } from "effect"
import { Data, Effect, Layer, Option, PubSub, Redacted, Ref, Schedule, Stream } from "effect"
import { createServer } from "node:http"
import { isIP } from "node:net"
import * as Gc from "./Gc.js"
import * as Groups from "./Groups.js"
import type { Snapshot } from "./internal/dashboard/data.js"
import * as Data_ from "./internal/dashboard/data.js"
import * as Glob from "./internal/dashboard/glob.js"
import { page } from "./internal/dashboard/page.js"
import * as Probes from "./internal/dashboard/probes.js"
import * as Validate from "./internal/redis/validate.js"
import * as Redis from "./Redis.js"
import * as RedisError from "./RedisError.js"
import * as Streams from "./Streams.js"

export type {
  /**
   * @since 0.1.0
   * @category models
   */
  ConsumerView,
  /**
   * @since 0.1.0
   * @category models
   */
  DlqView,
  /**
   * @since 0.1.0
   * @category models
   */
  GroupView,
  /**
   * @since 0.1.0
   * @category models
   */
  Snapshot,
  /**
   * @since 0.1.0
   * @category models
   */
  StreamView
} from "./internal/dashboard/data.js"

/**
 * What the dashboard shows and allows.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Which keys it looks at (SCAN MATCH, keys of type stream only). Default `"*"`. */
  readonly pattern?: string | undefined
  /** How often it refreshes. Default 1 second. */
  readonly interval?: Duration.DurationInput | undefined
  /** How far back the sparklines of pending and lag go. Default 5 minutes. */
  readonly history?: Duration.DurationInput | undefined
  /** Consumers idle longer than this are marked stale. Default 60 seconds (gc's default rebalance idle). */
  readonly idle?: Duration.DurationInput | undefined
  /** Refuse every write (redrive, gc) with 403. Default false. */
  readonly readOnly?: boolean | undefined
  /** When set, every `/api/*` request needs `Authorization: Bearer <token>`. */
  readonly token?: Redacted.Redacted | undefined
  /**
   * Host names (the `Host` header, without its port) the dashboard answers
   * to besides `localhost` and IP addresses: a name a DNS-rebinding page
   * controls is refused with 403. Default none.
   */
  readonly allowedHosts?: ReadonlyArray<string> | undefined
  /**
   * The probes: how long Redis may take to answer PING (`timeout`, default
   * 1 second), and how long ago every consumer running in this process
   * may have last read for `/readyz` (`maxAge`, default 30 seconds).
   */
  readonly probes?: {
    readonly timeout?: Duration.DurationInput | undefined
    readonly maxAge?: Duration.DurationInput | undefined
  } | undefined
}

/**
 * {@link Options} and where to listen.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions extends Options {
  /** Default 7890; 0 picks a free port. */
  readonly port?: number | undefined
  /** Default `"127.0.0.1"`: only this machine can connect. */
  readonly host?: string | undefined
}

/** A request the dashboard refuses, with the status it answers. */
class Refused extends Data.TaggedError("Refused")<{
  readonly status: number
  readonly error: string
  readonly message: string
}> {}

/** What an endpoint's handler is: its answer, or a refusal, from the request and Redis. */
type Handler<A> = Effect.Effect<
  A,
  RedisError.RedisError | Refused,
  Redis.Redis | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext | HttpServerRequest.ParsedSearchParams
>

const statusOf = (reason: RedisError.RedisError["reason"]): number => {
  switch (reason) {
    case "InvalidArgument":
      return 400
    case "NoSuchKey":
    case "NoGroup":
      return 404
    case "WrongType":
    case "BusyGroup":
    case "CrossSlot":
      return 409
    case "Connection":
      return 503
    default:
      return 502
  }
}

const errorResponse = (status: number, error: string, message: string) =>
  HttpServerResponse.unsafeJson({ error, message }, { status })

/** Runs a handler and answers with its result as JSON, or its failure as a 4xx/5xx JSON error. */
const json = <A, R>(handler: Effect.Effect<A, RedisError.RedisError | Refused, R>) =>
  handler.pipe(
    Effect.map((body) => HttpServerResponse.unsafeJson(body)),
    Effect.catchTags({
      RedisError: (error) => Effect.succeed(errorResponse(statusOf(error.reason), error.reason, error.message)),
      Refused: (refused) => Effect.succeed(errorResponse(refused.status, refused.error, refused.message))
    })
  )

/** A path parameter, URL-decoded by the router. */
const param = (name: string) =>
  Effect.flatMap(HttpRouter.params, (params) => {
    const value = params[name]
    return value === undefined || value === ""
      ? Effect.fail(new Refused({ status: 400, error: "BadRequest", message: `missing path parameter ${name}` }))
      : Effect.succeed(value)
  })

/** The most entries or letters one request reads. */
export const maxCount = 1_000

/** An optional query parameter: a positive integer of at most {@link maxCount}. */
const countParam = (name: string) =>
  Effect.flatMap(HttpServerRequest.ParsedSearchParams, (search) => {
    const raw = search[name]
    if (raw === undefined) return Effect.succeed(undefined)
    const value = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : NaN
    return Number.isSafeInteger(value) && value > 0 && value <= maxCount
      ? Effect.succeed(value)
      : Effect.fail(new Refused({ status: 400, error: "BadRequest", message: `${name} must be an integer from 1 to ${maxCount}, got ${JSON.stringify(raw)}` }))
  })

const stringParam = (name: string) =>
  Effect.map(HttpServerRequest.ParsedSearchParams, (search) => {
    const raw = search[name]
    return typeof raw === "string" && raw !== "" ? raw : undefined
  })

/** The host of an `Origin` header; `undefined` when it is not a URL (`null`, or malformed). */
const originHost = (origin: string): string | undefined => {
  try {
    return new URL(origin).host
  } catch {
    return undefined
  }
}

/**
 * Refuses a write from a foreign page: an `Origin` whose host is not the
 * one the request was sent to (or that is opaque or malformed), or a
 * `Sec-Fetch-Site` other than same-origin. A request without either (a
 * script, curl) is not a browser's and passes.
 */
const sameOrigin = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
  const origin = request.headers["origin"]
  const site = request.headers["sec-fetch-site"]
  const host = request.headers["host"]
  const foreign = (origin !== undefined && (host === undefined || originHost(origin) !== host)) ||
    (site !== undefined && site !== "same-origin" && site !== "none")
  return foreign
    ? Effect.fail(new Refused({ status: 403, error: "Forbidden", message: `writes need a same-origin request; Origin ${origin ?? site} is not this dashboard` }))
    : Effect.void
})

interface Settings {
  readonly pattern: string
  readonly matches: (key: string) => boolean
  readonly allowedHosts: ReadonlySet<string>
  readonly interval: number
  readonly samples: number
  readonly idle: number
  readonly readOnly: boolean
  readonly token: Option.Option<string>
  readonly probeTimeout: number
  readonly readyMaxAge: number
}

const settingsOf = (options: Options): Effect.Effect<Settings, RedisError.RedisError> =>
  Effect.gen(function*() {
    const interval = yield* Validate.positiveMillis("Dashboard", "interval", options.interval ?? "1 second")
    const history = yield* Validate.positiveMillis("Dashboard", "history", options.history ?? "5 minutes")
    const idle = yield* Validate.positiveMillis("Dashboard", "idle", options.idle ?? "60 seconds")
    const token = Option.map(Option.fromNullable(options.token), Redacted.value)
    if (Option.exists(token, (value) => value.length === 0)) {
      return yield* RedisError.invalidArgument("Dashboard", "token must not be empty")
    }
    const pattern = options.pattern ?? "*"
    return {
      pattern,
      matches: Glob.matcher(pattern),
      allowedHosts: new Set((options.allowedHosts ?? []).map((host) => host.toLowerCase())),
      interval,
      samples: Math.max(2, Math.ceil(history / interval)),
      idle,
      readOnly: options.readOnly ?? false,
      token,
      probeTimeout: yield* Validate.positiveMillis("Dashboard", "probes.timeout", options.probes?.timeout ?? "1 second"),
      readyMaxAge: yield* Validate.positiveMillis("Dashboard", "probes.maxAge", options.probes?.maxAge ?? "30 seconds")
    }
  })

/**
 * Refuses a request sent to a name the dashboard does not answer to: only
 * IP addresses, `localhost` and `allowedHosts` (a DNS-rebinding page sends
 * its own name, which then points at this machine).
 */
const knownHost = (settings: Settings) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const host = request.headers["host"]
    const name = host === undefined ? undefined : hostName(host)
    return name !== undefined && (isIP(name) !== 0 || name === "localhost" || settings.allowedHosts.has(name))
      ? Effect.void
      : Effect.fail(new Refused({
        status: 403,
        error: "Forbidden",
        message: `this dashboard does not answer to Host ${JSON.stringify(host ?? "")} (an IP address, localhost or one of allowedHosts)`
      }))
  })

/** The name of a `Host` header without its port, lower-cased; IPv6 without its brackets. */
const hostName = (host: string): string | undefined => {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+))(?::\d+)?$/.exec(host.trim())
  return match === null ? undefined : (match[1] ?? match[2])!.toLowerCase()
}

/**
 * Answers 401 without the bearer token, when one is set (the scheme in any
 * case). The comparison takes the same time wherever the tokens differ.
 */
const bearer = (settings: Settings) =>
  Option.match(settings.token, {
    onNone: () => Effect.void,
    onSome: (token) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const given = /^bearer\s+(.+)$/i.exec(request.headers["authorization"] ?? "")?.[1] ?? ""
        let diff = given.length ^ token.length
        for (let i = 0; i < token.length; i++) diff |= token.charCodeAt(i) ^ (given.charCodeAt(i) || 0)
        return diff === 0 ? Effect.void : Effect.fail(new Refused({ status: 401, error: "Unauthorized", message: "a bearer token is required" }))
      })
  })

/** A key named by a request, checked: inside `pattern` (404 otherwise, as if it did not exist). */
const scoped = (settings: Settings, key: string) =>
  settings.matches(key)
    ? Effect.succeed(key)
    : Effect.fail(new Refused({ status: 404, error: "NotFound", message: `${JSON.stringify(key)} is not among the keys this dashboard shows` }))

/** `Groups.stats` as JSON: the next due time of its delayed entries in epoch ms, or null. */
const statsJson = (stats: Groups.GroupStats) => ({
  ...stats,
  delayed: { count: stats.delayed.count, nextDue: Option.match(stats.delayed.nextDue, { onNone: () => null, onSome: (due) => due.getTime() }) }
})

/** A pause or resume of the request's group, answered with its state now. */
const pausing = <E, R>(
  streamParam: Effect.Effect<string, E, R>,
  change: (stream: string, group: string) => Effect.Effect<void, RedisError.RedisError, Redis.Redis>
) =>
  Effect.gen(function*() {
    const [stream, group] = yield* Effect.all([streamParam, param("group")])
    yield* change(stream, group)
    return { stream, group, paused: yield* Groups.isPaused(stream, group) }
  })

/** Headers on every answer: no page may frame the dashboard (clickjacking), no type sniffing. */
const safetyHeaders = {
  "x-frame-options": "DENY",
  "content-security-policy": "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
} as const

const encoder = new TextEncoder()

/**
 * The dashboard as an `HttpApp` (to mount in an application's own router or
 * server), with its refresher running in the scope: one refresh every
 * `interval`, kept for `/api/snapshot` and pushed to every `/api/events`
 * client. A failed refresh is logged and the last snapshot stays.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<HttpApp.Default<never, never>, RedisError.RedisError, Redis.Redis | Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* settingsOf(options)
    const redis = yield* Redis.Redis
    const withRedis = Effect.provideService(Redis.Redis, redis)
    const history = new Data_.History(settings.samples, settings.idle)
    const refresh = Effect.map(Data_.readStreams(settings.pattern), (reads) => history.record(reads, Date.now())).pipe(withRedis)
    const latest = yield* Ref.make(yield* refresh)
    const updates = yield* PubSub.sliding<Snapshot>(1)
    yield* refresh.pipe(
      Effect.tap((snapshot) => Effect.zipRight(Ref.set(latest, snapshot), PubSub.publish(updates, snapshot))),
      Effect.catchAllCause((cause) => Effect.logWarning("dashboard refresh failed", cause)),
      Effect.repeat(Schedule.spaced(settings.interval)),
      Effect.delay(settings.interval),
      Effect.annotateLogs({ package: "effect-redis-streams", module: "Dashboard" }),
      Effect.forkScoped
    )

    // Every route decides its own authorisation, in one of three ways: the
    // page and the probes (known Host only: they hold no data), reads (and
    // the token), writes (and not read-only, and same-origin).
    const api = Effect.zipRight(knownHost(settings), bearer(settings))
    const read = <A>(handler: Handler<A>) => json(Effect.zipRight(api, handler)).pipe(withRedis)
    const write = <A>(handler: Handler<A>) =>
      json(Effect.zipRight(
        api,
        settings.readOnly
          ? Effect.fail(new Refused({ status: 403, error: "Forbidden", message: "the dashboard is read-only" }))
          : Effect.zipRight(sameOrigin, handler)
      )).pipe(withRedis)
    const streamParam = Effect.flatMap(param("stream"), (stream) => scoped(settings, stream))
    const probe = (answer: Effect.Effect<Probes.Probe, never, Redis.Redis>) =>
      knownHost(settings).pipe(
        Effect.zipRight(answer),
        Effect.map(({ body, status }) => HttpServerResponse.unsafeJson(body, { status, headers: { "cache-control": "no-store" } })),
        Effect.catchTag("Refused", (refused) => Effect.succeed(errorResponse(refused.status, refused.error, refused.message))),
        withRedis
      )

    const events = Stream.concat(Stream.fromEffect(Ref.get(latest)), Stream.fromPubSub(updates)).pipe(
      Stream.map((snapshot) => encoder.encode(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`))
    )

    const router = HttpRouter.empty.pipe(
      HttpRouter.get(
        "/",
        knownHost(settings).pipe(
          Effect.as(HttpServerResponse.html(page({ interval: settings.interval, readOnly: settings.readOnly }))),
          Effect.catchTag("Refused", (refused) => Effect.succeed(errorResponse(refused.status, refused.error, refused.message)))
        )
      ),
      HttpRouter.get("/healthz", probe(Probes.healthz(settings.probeTimeout))),
      HttpRouter.get("/readyz", probe(Probes.readyz(settings.probeTimeout, settings.readyMaxAge))),
      HttpRouter.get("/api/snapshot", read(Ref.get(latest))),
      HttpRouter.get("/api/streams", read(Effect.map(Ref.get(latest), (snapshot) => snapshot.streams))),
      HttpRouter.get(
        "/api/events",
        api.pipe(
          Effect.as(HttpServerResponse.stream(events, {
            contentType: "text/event-stream",
            headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
          })),
          Effect.catchTag("Refused", (refused) => Effect.succeed(errorResponse(refused.status, refused.error, refused.message)))
        )
      ),
      HttpRouter.get("/api/streams/:stream/groups", read(Effect.flatMap(streamParam, (stream) => groupsNow(stream, settings.idle)))),
      HttpRouter.get(
        "/api/streams/:stream/groups/:group",
        read(Effect.flatMap(Effect.all([streamParam, param("group")]), ([stream, group]) => Effect.map(Groups.stats(stream, group), statsJson)))
      ),
      HttpRouter.get(
        "/api/streams/:stream/entries",
        read(Effect.gen(function*() {
          const stream = yield* streamParam
          return yield* Streams.read(stream, { from: yield* stringParam("from"), count: (yield* countParam("count")) ?? 100 })
        }))
      ),
      HttpRouter.get(
        "/api/dlq/:dlq",
        read(Effect.gen(function*() {
          const dlq = yield* Effect.flatMap(param("dlq"), (dlq) => scoped(settings, dlq))
          return yield* Gc.deadLetters(dlq, { count: (yield* countParam("count")) ?? 100 })
        }))
      ),
      HttpRouter.post(
        "/api/dlq/:dlq/redrive",
        write(Effect.gen(function*() {
          const dlq = yield* Effect.flatMap(param("dlq"), (dlq) => scoped(settings, dlq))
          const count = (yield* countParam("count")) ?? maxCount
          const stream = yield* stringParam("stream")
          if (stream !== undefined) yield* scoped(settings, stream)
          return yield* Gc.redrive(dlq, { count, stream })
        }))
      ),
      HttpRouter.post("/api/streams/:stream/groups/:group/pause", write(pausing(streamParam, Groups.pause))),
      HttpRouter.post("/api/streams/:stream/groups/:group/resume", write(pausing(streamParam, Groups.resume))),
      HttpRouter.post(
        "/api/streams/:stream/groups/:group/gc",
        write(Effect.gen(function*() {
          const [stream, group] = yield* Effect.all([streamParam, param("group")])
          const dryRun = yield* Effect.map(stringParam("dryRun"), (value) => value === "true" || value === "1")
          return yield* Gc.collect(stream, group, { dryRun })
        }))
      )
    )
    // paths match case-sensitively, and a key of any length fits in a path parameter
    const app = yield* HttpRouter.toHttpApp(router).pipe(HttpRouter.withRouterConfig({ caseSensitive: true, maxParamLength: 1 << 16 }))
    return app.pipe(
      Effect.catchTag("RouteNotFound", () => Effect.succeed(errorResponse(404, "NotFound", "no such endpoint"))),
      Effect.catchAllCause((cause) =>
        Effect.as(Effect.logWarning("dashboard request failed", cause), errorResponse(502, "Command", "the request failed"))
      ),
      Effect.map(HttpServerResponse.setHeaders(safetyHeaders))
    )
  })

/** The groups of a stream read now, as the page shows them (without history). */
const groupsNow = (stream: string, idle: number) =>
  Effect.gen(function*() {
    yield* Redis.validateName("XINFO", "stream", stream)
    return Data_.groupsOf(yield* Data_.readStream(stream), idle)
  })

/**
 * Serves the dashboard on the `HttpServer` in the context (bring your own
 * server, e.g. `NodeHttpServer.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const serve = (options: Options = {}): Layer.Layer<never, RedisError.RedisError, Redis.Redis | HttpServer.HttpServer> =>
  Layer.unwrapScoped(Effect.map(make(options), (app) => HttpServer.serve(app)))

/**
 * Serves the dashboard on its own Node HTTP server, at `host:port`
 * (default 127.0.0.1:7890), while the layer is in use. The server is part
 * of the output, so its address can be read (`HttpServer.addressWith`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: ServeOptions = {}
): Layer.Layer<HttpServer.HttpServer, RedisError.RedisError | HttpServerError.ServeError, Redis.Redis> =>
  serve({ ...options, allowedHosts: [...(options.allowedHosts ?? []), ...(options.host === undefined ? [] : [options.host])] }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: options.port ?? 7890, host: options.host ?? "127.0.0.1" }))
  )

/**
 * The dashboard's URL as a person opens it (`http://host:port/`, with
 * `#token=…` when a token is set): for a program to print.
 *
 * @since 0.1.0
 * @category utils
 */
export const url = (token?: Redacted.Redacted): Effect.Effect<string, never, HttpServer.HttpServer> =>
  HttpServer.addressWith((address) =>
    Effect.succeed(
      address._tag === "TcpAddress"
        ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}/${
          token === undefined ? "" : `#token=${encodeURIComponent(Redacted.value(token))}`
        }`
        : `unix:${address.path}`
    )
  )

