/**
 * The dashboard's HTTP endpoints against a real redis-server: every
 * endpoint, each bad input, read-only mode, the bearer token and a foreign
 * Origin.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { Dashboard } from "../src/dashboard/index.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Naming from "../src/Naming.js"
import * as Redis from "../src/Redis.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { read, setup } from "./gcUtils.js"
import { eventually } from "./utils.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

let counter = 0
/** A stream with a hash tag of its own, so each test has its own dead-letter stream. */
const fresh = () => {
  const tag = `dash${++counter}`
  const stream = Naming.streamName("orders", { hashTag: tag })
  return { stream, group: `group/${tag}`, consumer: `consumer/${tag}/0`, dlq: Naming.dlqName(stream) }
}

interface Reply {
  readonly status: number
  readonly body: any
  readonly text: string
}

const request = (path: string, init: RequestInit = {}) =>
  Effect.flatMap(Dashboard.url(), (base) =>
    Effect.promise(async (): Promise<Reply> => {
      const response = await fetch(new URL(path, base), init)
      const text = await response.text()
      let body: unknown = undefined
      try {
        body = JSON.parse(text)
      } catch {
        // not JSON (the page)
      }
      return { status: response.status, body, text }
    }))

const post = (path: string, headers: Record<string, string> = {}) => request(path, { method: "POST", headers })

const enc = encodeURIComponent

/** `n` entries of a fresh stream dead-lettered after one delivery. */
const deadLettered = (n: number) =>
  Effect.gen(function*() {
    const names = fresh()
    const ids = yield* setup(names.stream, names.group, n)
    yield* read(names.stream, names.group, names.consumer, n)
    yield* Gc.collect(names.stream, names.group, { dlq: { deliveries: 1 }, rebalance: false })
    return { ...names, ids }
  })

const dashboard = (options: Dashboard.ServeOptions) =>
  Dashboard.layer({ port: 0, interval: "100 millis", ...options }).pipe(Layer.provideMerge(RedisTest.layer()))

layer(dashboard({}), { excludeTestServices: true, timeout: "30 seconds" })("Dashboard", (it) => {
  it.effect("serves the page", () =>
    Effect.gen(function*() {
      const page = yield* request("/")
      expect(page.status).toBe(200)
      expect(page.text).toContain("<title>effect-redis-streams dashboard</title>")
      expect(page.text).toContain("/api/events")
    }))

  it.effect("lists streams, groups and consumers in the snapshot, and follows pending as entries are handled", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = fresh()
      const ids = yield* setup(stream, group, 3)
      yield* read(stream, group, consumer, 3)
      const view = yield* eventually(Effect.gen(function*() {
        const snapshot = (yield* request("/api/snapshot")).body
        const found = snapshot.streams.find((s: { name: string }) => s.name === stream)
        expect(found).toBeDefined()
        expect(found.groups[0].pending).toBe(3)
        return found
      }))
      expect(view).toMatchObject({ length: 3, firstId: ids[0], lastId: ids[2], dlq: Naming.dlqName(stream) })
      expect(view.groups[0]).toMatchObject({ name: group, lag: 0, lastDeliveredId: ids[2] })
      expect(view.groups[0].consumers).toEqual([expect.objectContaining({ name: consumer, pending: 3, stale: false })])
      yield* send("XACK", [stream, group, ...ids])
      yield* eventually(Effect.gen(function*() {
        const streams = (yield* request("/api/streams")).body
        const group0 = streams.find((s: { name: string }) => s.name === stream).groups[0]
        expect(group0.pending).toBe(0)
        expect(group0.history.pending).toContain(3)
        expect(group0.history.pending.at(-1)).toBe(0)
      }))
    }))

  it.effect("groups and one group's stats of a URL-encoded stream; unknown ones are 404, a key of another type 409", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = fresh()
      yield* setup(stream, group, 2)
      yield* read(stream, group, consumer, 1)
      const groups = yield* request(`/api/streams/${enc(stream)}/groups`)
      expect(groups.status).toBe(200)
      expect(groups.body).toEqual([expect.objectContaining({ name: group, pending: 1, lag: 1 })])
      const stats = yield* request(`/api/streams/${enc(stream)}/groups/${enc(group)}`)
      const direct = yield* Groups.stats(stream, group)
      expect(stats.body).toEqual({
        ...direct,
        consumers: direct.consumers.map((c) => ({ ...c, idle: expect.any(Number) })),
        delayed: { count: 0, nextDue: null }
      })
      const missingStream = yield* request(`/api/streams/${enc("stream/nope")}/groups`)
      expect(missingStream.status).toBe(404)
      expect(missingStream.body.error).toBe("NoSuchKey")
      const missingGroup = yield* request(`/api/streams/${enc(stream)}/groups/${enc("group/nope")}`)
      expect(missingGroup.status).toBe(404)
      expect(missingGroup.body.error).toBe("NoGroup")
      yield* send("SET", ["dashboard-plain", "x"])
      const wrongType = yield* request(`/api/streams/dashboard-plain/groups`)
      expect(wrongType.status).toBe(409)
      expect(wrongType.body.error).toBe("WrongType")
    }))

  it.effect("reads entries; a malformed id or count is a 400 naming it", () =>
    Effect.gen(function*() {
      const { group, stream } = fresh()
      const ids = yield* setup(stream, group, 3)
      const entries = yield* request(`/api/streams/${enc(stream)}/entries?from=${ids[0]}&count=1`)
      expect(entries.body).toEqual([{ id: ids[1], fields: { n: "1" } }])
      const badId = yield* request(`/api/streams/${enc(stream)}/entries?from=12-x`)
      expect(badId.status).toBe(400)
      expect(badId.body.error).toBe("InvalidArgument")
      expect(badId.body.message).toContain("12-x")
      for (const count of ["0", "-1", "abc", "1.5"]) {
        const bad = yield* request(`/api/streams/${enc(stream)}/entries?count=${count}`)
        expect(bad.status).toBe(400)
        expect(bad.body).toEqual({ error: "BadRequest", message: `count must be an integer from 1 to 1000, got "${count}"` })
      }
    }))

  it.effect("lists dead letters, redrives them (count), and refuses a bad count with nothing moved", () =>
    Effect.gen(function*() {
      const { dlq, ids, stream } = yield* deadLettered(3)
      const letters = yield* request(`/api/dlq/${enc(dlq)}?count=2`)
      expect(letters.body.map((l: { id: string }) => l.id)).toEqual(ids.slice(0, 2))
      expect((yield* request(`/api/dlq/${enc(dlq)}?count=zero`)).status).toBe(400)
      const refused = yield* post(`/api/dlq/${enc(dlq)}/redrive?count=0`)
      expect(refused.status).toBe(400)
      expect(yield* send("XLEN", [dlq])).toBe(3)
      const moved = yield* post(`/api/dlq/${enc(dlq)}/redrive?count=1`)
      expect(moved.status).toBe(200)
      expect(moved.body).toHaveLength(1)
      expect(moved.body[0]).toMatchObject({ stream, id: ids[0] })
      expect(yield* send("XLEN", [dlq])).toBe(2)
      expect(yield* send("XLEN", [stream])).toBe(4)
    }))

  it.effect("a redrive to a stream that is gone is a 404 and moves nothing", () =>
    Effect.gen(function*() {
      const { dlq, stream } = yield* deadLettered(2)
      yield* send("DEL", [stream])
      const gone = yield* post(`/api/dlq/${enc(dlq)}/redrive`)
      expect(gone.status).toBe(404)
      expect(gone.body.error).toBe("NoSuchKey")
      expect(yield* send("XLEN", [dlq])).toBe(2)
    }))

  it.effect("a gc dry run returns the actions and changes nothing; a real pass acts", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = fresh()
      yield* setup(stream, group, 2)
      yield* read(stream, group, consumer, 2)
      yield* send("XCLAIM", [stream, group, consumer, 0, ...(yield* read(stream, group, consumer, 2, "0")).map((e) => e.id), "IDLE", 120_000, "JUSTID"])
      yield* send("XGROUP", ["CREATECONSUMER", stream, group, "consumer/sibling"])
      const dry = yield* post(`/api/streams/${enc(stream)}/groups/${enc(group)}/gc?dryRun=true`)
      expect(dry.status).toBe(200)
      expect(dry.body.map((a: { _tag: string }) => a._tag)).toEqual(["Rebalance", "Rebalance"])
      expect((yield* Groups.stats(stream, group)).consumers.find((c) => c.name === consumer)?.pending).toBe(2)
      const real = yield* post(`/api/streams/${enc(stream)}/groups/${enc(group)}/gc`)
      expect(real.body.map((a: { _tag: string }) => a._tag)).toEqual(["Rebalance", "Rebalance"])
      expect((yield* Groups.stats(stream, group)).consumers.find((c) => c.name === "consumer/sibling")?.pending).toBe(2)
      const missing = yield* post(`/api/streams/${enc(stream)}/groups/${enc("group/nope")}/gc?dryRun=true`)
      expect(missing.status).toBe(404)
    }))

  it.effect("pauses and resumes a group; the snapshot and the group's endpoint show it; a missing group is a 404", () =>
    Effect.gen(function*() {
      const { group, stream } = fresh()
      yield* setup(stream, group, 1)
      const groupPath = `/api/streams/${enc(stream)}/groups/${enc(group)}`
      const paused = yield* post(`${groupPath}/pause`)
      expect(paused).toMatchObject({ status: 200, body: { stream, group, paused: true } })
      expect(yield* Groups.isPaused(stream, group)).toBe(true)
      expect((yield* request(groupPath)).body.paused).toBe(true)
      const shown = yield* eventually(Effect.filterOrFail(request("/api/snapshot"), (reply) =>
        reply.body.streams.find((s: { name: string }) => s.name === stream)?.groups[0]?.paused === true))
      expect(shown.status).toBe(200)
      expect((yield* request(`/api/streams/${enc(stream)}/groups`)).body[0].paused).toBe(true)
      expect((yield* post(`${groupPath}/resume`)).body).toEqual({ stream, group, paused: false })
      expect(yield* Groups.isPaused(stream, group)).toBe(false)
      expect((yield* post(`/api/streams/${enc(stream)}/groups/${enc("group/nope")}/pause`)).status).toBe(404)
    }))

  it.effect("shows each stream's delayed entries: how many, and when the next is due", () =>
    Effect.gen(function*() {
      const { stream } = fresh()
      yield* Streams.xaddMap(stream, "*", { n: 1 })
      const at = new Date(Date.now() + 3_600_000)
      yield* Streams.xaddAll(stream, [{ n: 2 }, { n: 3 }], { at })
      const shown = yield* eventually(Effect.filterOrFail(request("/api/snapshot"), (reply) =>
        reply.body.streams.find((s: { name: string }) => s.name === stream)?.delayed.count === 2))
      expect(shown.body.streams.find((s: { name: string }) => s.name === stream).delayed.nextDue).toBe(at.getTime())
    }))

  it.effect("refuses a write from a foreign Origin, accepts its own", () =>
    Effect.gen(function*() {
      const { dlq } = yield* deadLettered(1)
      const base = new URL(yield* Dashboard.url())
      const foreign = yield* post(`/api/dlq/${enc(dlq)}/redrive`, { origin: "http://evil.example" })
      expect(foreign.status).toBe(403)
      expect(foreign.body.error).toBe("Forbidden")
      const crossSite = yield* post(`/api/dlq/${enc(dlq)}/redrive`, { "sec-fetch-site": "cross-site" })
      expect(crossSite.status).toBe(403)
      for (const origin of ["null", "not a url"]) {
        expect((yield* post(`/api/dlq/${enc(dlq)}/redrive`, { origin })).status, origin).toBe(403)
      }
      expect(yield* send("XLEN", [dlq])).toBe(1)
      const { group, stream } = fresh()
      yield* setup(stream, group, 1)
      expect((yield* post(`/api/streams/${enc(stream)}/groups/${enc(group)}/pause`, { origin: "http://evil.example" })).status).toBe(403)
      expect(yield* Groups.isPaused(stream, group)).toBe(false)
      const own = yield* post(`/api/dlq/${enc(dlq)}/redrive`, { origin: base.origin })
      expect(own.status).toBe(200)
      expect(yield* send("XLEN", [dlq])).toBe(0)
    }))

  it.effect("an unknown endpoint is a JSON 404", () =>
    Effect.gen(function*() {
      const reply = yield* request("/api/nothing")
      expect(reply.status).toBe(404)
      expect(reply.body.error).toBe("NotFound")
    }))

  it.effect("streams snapshots as Server-Sent Events", () =>
    Effect.gen(function*() {
      const base = yield* Dashboard.url()
      const events = yield* Effect.promise(async () => {
        const controller = new AbortController()
        const response = await fetch(new URL("/api/events", base), { signal: controller.signal })
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
        let text = ""
        while ((text.match(/\n\n/g) ?? []).length < 2) text += (await reader.read()).value ?? ""
        controller.abort()
        return { type: response.headers.get("content-type"), text }
      })
      expect(events.type).toContain("text/event-stream")
      const first = events.text.split("\n\n")[0]!
      expect(first.startsWith("event: snapshot\ndata: ")).toBe(true)
      expect(JSON.parse(first.slice("event: snapshot\ndata: ".length))).toHaveProperty("streams")
    }))
})

layer(dashboard({ readOnly: true }), { excludeTestServices: true, timeout: "30 seconds" })("Dashboard read-only", (it) => {
  it.effect("refuses every POST with 403 and still answers GETs", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = yield* deadLettered(1)
      const redrive = yield* post(`/api/dlq/${enc(dlq)}/redrive`)
      expect(redrive.status).toBe(403)
      expect(redrive.body.message).toContain("read-only")
      expect((yield* post(`/api/streams/${enc(stream)}/groups/${enc(group)}/gc?dryRun=true`)).status).toBe(403)
      expect((yield* post(`/api/streams/${enc(stream)}/groups/${enc(group)}/pause`)).status).toBe(403)
      expect(yield* Groups.isPaused(stream, group)).toBe(false)
      expect(yield* send("XLEN", [dlq])).toBe(1)
      expect((yield* request(`/api/dlq/${enc(dlq)}`)).body).toHaveLength(1)
      expect(consumer).toContain("consumer/")
      expect((yield* request("/")).text).toContain('id="redrive" type="button" hidden')
    }))
})

const token = "s3cret-token"

layer(dashboard({ token: Redacted.make(token) }), { excludeTestServices: true, timeout: "30 seconds" })("Dashboard with a token", (it) => {
  it.effect("needs the bearer token on /api/*, not for the page", () =>
    Effect.gen(function*() {
      expect((yield* request("/")).status).toBe(200)
      const without = yield* request("/api/snapshot")
      expect(without.status).toBe(401)
      expect(without.body.error).toBe("Unauthorized")
      expect((yield* request("/api/snapshot", { headers: { authorization: "Bearer wrong" } })).status).toBe(401)
      expect((yield* request("/api/snapshot", { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401)
      const withToken = yield* request("/api/snapshot", { headers: { authorization: `Bearer ${token}` } })
      expect(withToken.status).toBe(200)
      expect(withToken.body).toHaveProperty("streams")
      expect(yield* Dashboard.url(Redacted.make(token))).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=s3cret-token$/)
    }))
})

describe("Dashboard options", () => {
  layer(RedisTest.layer(), { excludeTestServices: true })((it) => {
    it.effect("a bad interval or an empty token is refused with InvalidArgument before serving", () =>
      Effect.gen(function*() {
        const badInterval = yield* Effect.flip(Layer.build(Dashboard.layer({ port: 0, interval: 0 })).pipe(Effect.scoped))
        expect(badInterval).toMatchObject({ _tag: "RedisError", reason: "InvalidArgument" })
        const emptyToken = yield* Effect.flip(Layer.build(Dashboard.layer({ port: 0, token: Redacted.make("") })).pipe(Effect.scoped))
        expect(emptyToken).toMatchObject({ _tag: "RedisError", reason: "InvalidArgument" })
      }))
  })
})
