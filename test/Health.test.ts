/**
 * Health checks: `Consumer.health` and `Consumer.readiness` over the
 * consumers running in this process, and the dashboard's `/healthz` and
 * `/readyz`, which go unready while Redis is paused (`CLIENT PAUSE`) and
 * ready again after, without a token but only on a known Host.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted } from "effect"
import * as Consumer from "../src/Consumer.js"
import { Dashboard } from "../src/dashboard/index.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import { raw } from "./support/http.js"
import { addEntries, eventually } from "./utils.js"

const token = "probe-t0ken"

const dashboard = Dashboard.layer({
  port: 0,
  interval: "100 millis",
  token: Redacted.make(token),
  probes: { timeout: "300 millis", maxAge: "1 second" }
}).pipe(Layer.provideMerge(RedisTest.layer()))

let counter = 0
const fresh = () => {
  const tag = `health${++counter}`
  return { stream: `stream/${tag}`, group: `group/${tag}`, consumer: `consumer/${tag}/0` }
}

/** The health of one consumer of this process, by name. */
const healthOf = (consumer: string) =>
  Effect.map(Consumer.health({ timeout: "1 second" }), (all) => all.find((health) => health.consumer === consumer))

const probe = (path: string) =>
  Effect.map(raw(path), (reply) => ({ status: reply.status, body: JSON.parse(reply.body) as Record<string, unknown>, headers: reply.headers }))

layer(dashboard, { excludeTestServices: true, timeout: "60 seconds" })("health", (it) => {
  it.effect("Consumer.health lists a running consumer: connected, its last read, its pending entries and its group's lag; gone once stopped", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = fresh()
      yield* Groups.create(stream, group)
      yield* addEntries(stream, 5)
      const gate = yield* Effect.makeLatch(false)
      const before = Date.now()
      const fiber = yield* Effect.fork(Consumer.run({ stream, group, consumer, block: 100, count: 2, handler: () => gate.await }))
      // the first batch is held by its handler: some entries are pending, the rest not yet delivered
      const held = yield* eventually(Effect.filterOrFail(healthOf(consumer), (h) => h !== undefined && (h.pending ?? 0) >= 2))
      expect(held).toMatchObject({ streams: [stream], group, connected: true })
      expect(held!.pending! + held!.lag!).toBe(5)
      expect(held!.lastReadAt!.getTime()).toBeGreaterThanOrEqual(before)
      expect(held!.startedAt.getTime()).toBeGreaterThanOrEqual(before)
      yield* gate.open
      const done = yield* eventually(Effect.filterOrFail(healthOf(consumer), (h) => h?.pending === 0 && h.lag === 0))
      expect(done!.connected).toBe(true)
      expect((yield* Consumer.readiness({ maxAge: "5 seconds" })).unready.map((state) => state.consumer)).not.toContain(consumer)
      yield* Fiber.interrupt(fiber)
      expect(yield* healthOf(consumer)).toBeUndefined()
    }))

  it.effect("a negative or zero duration is an InvalidArgument", () =>
    Effect.gen(function*() {
      expect(yield* Effect.flip(Consumer.health({ timeout: -1 }))).toMatchObject({ reason: "InvalidArgument" })
      expect(yield* Effect.flip(Consumer.readiness({ maxAge: "-5 seconds" }))).toMatchObject({ reason: "InvalidArgument" })
      expect(yield* Effect.flip(Consumer.readiness({ maxAge: 0 }))).toMatchObject({ reason: "InvalidArgument" })
    }))

  it.effect("/readyz and /healthz go unavailable while Redis is paused, and come back after; Consumer.readiness names the consumer meanwhile", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = fresh()
      yield* Groups.create(stream, group)
      const fiber = yield* Effect.fork(Consumer.run({ stream, group, consumer, block: 100, handler: () => Effect.void }))
      const ready = yield* eventually(Effect.filterOrFail(probe("/readyz"), (reply) => reply.status === 200))
      expect(ready.body).toMatchObject({ status: "ready", redis: true, unready: 0 })
      expect(ready.body["consumers"]).toBeGreaterThanOrEqual(1)
      expect(ready.headers["cache-control"]).toBe("no-store")
      expect(yield* probe("/healthz")).toMatchObject({ status: 200, body: { status: "ok", redis: true } })

      const redis = yield* Redis.Redis
      yield* redis.send("CLIENT", ["PAUSE", 2_500, "ALL"])
      const unready = yield* eventually(Effect.filterOrFail(probe("/readyz"), (reply) => reply.status === 503), "2 seconds")
      expect(unready.body).toMatchObject({ status: "unready", redis: false })
      expect(yield* probe("/healthz")).toMatchObject({ status: 503, body: { status: "unavailable", redis: false } })
      // the consumer's reads wait on the pause: past maxAge it is not ready
      const stale = yield* eventually(
        Effect.filterOrFail(Consumer.readiness({ maxAge: "1 second" }), (r) => r.unready.some((state) => state.consumer === consumer)),
        "2 seconds"
      )
      expect(stale.ready).toBe(false)

      const back = yield* eventually(Effect.filterOrFail(probe("/readyz"), (reply) => reply.status === 200), "10 seconds")
      expect(back.body).toMatchObject({ status: "ready", redis: true, unready: 0 })
      expect((yield* probe("/healthz")).status).toBe(200)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("the probes need no token (their bodies name nothing) but a known Host; the API still needs the token", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = fresh()
      yield* Groups.create(stream, group)
      const fiber = yield* Effect.fork(Consumer.run({ stream, group, consumer, block: 100, handler: () => Effect.void }))
      const ready = yield* eventually(Effect.filterOrFail(raw("/readyz"), (reply) => reply.status === 200))
      expect(ready.body).not.toContain(consumer)
      expect(ready.body).not.toContain(stream)
      expect((yield* raw("/api/snapshot")).status).toBe(401)
      const port = new URL(yield* Dashboard.url()).port
      for (const path of ["/healthz", "/readyz"]) {
        expect((yield* raw(path, { headers: { host: `evil.example:${port}` } })).status, path).toBe(403)
        expect((yield* raw(path, { method: "POST" })).status, `POST ${path}`).toBe(404)
      }
      yield* Fiber.interrupt(fiber)
    }))
})

describe("probe options", () => {
  layer(RedisTest.layer(), { excludeTestServices: true })((it) => {
    it.effect("a probe timeout or maxAge below 1 ms is refused with InvalidArgument before serving", () =>
      Effect.gen(function*() {
        for (const probes of [{ timeout: 0 }, { maxAge: -1 }, { maxAge: "-1 second" as const }]) {
          const error = yield* Effect.flip(Layer.build(Dashboard.layer({ port: 0, probes })).pipe(Effect.scoped))
          expect(error, JSON.stringify(probes)).toMatchObject({ _tag: "RedisError", reason: "InvalidArgument" })
        }
      }))
  })
})
