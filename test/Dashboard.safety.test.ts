/**
 * The dashboard probed as an attacker would, over raw HTTP (so `Host` can be
 * forged): the token cannot be skipped by the spelling of a path, a
 * DNS-rebinding name is refused, no page can frame it, `count` is bounded,
 * keys of any length are served, every endpoint keeps to `pattern`, and the
 * bearer scheme is taken in any case. The glob matcher agrees with Redis.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { Dashboard } from "../src/dashboard/index.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import { matcher } from "../src/internal/dashboard/glob.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import { read, setup } from "./gcUtils.js"
import { raw } from "./support/http.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

let counter = 0
const fresh = (prefix = "safe") => {
  const tag = `${prefix}${++counter}`
  const stream = `stream/{${tag}}orders`
  return { stream, group: `group/${tag}`, consumer: `consumer/${tag}/0`, dlq: `${stream}-dlq` }
}

/** One entry of a fresh stream dead-lettered after one delivery. */
const deadLettered = (prefix?: string) =>
  Effect.gen(function*() {
    const names = fresh(prefix)
    yield* setup(names.stream, names.group, 1)
    yield* read(names.stream, names.group, names.consumer, 1)
    yield* Gc.collect(names.stream, names.group, { dlq: { deliveries: 1, stream: names.dlq }, rebalance: false })
    return names
  })

const enc = encodeURIComponent
const token = "t0ken-for-safety"

const dashboard = (options: Dashboard.ServeOptions) =>
  Dashboard.layer({ port: 0, interval: "100 millis", ...options }).pipe(Layer.provideMerge(RedisTest.layer()))

layer(dashboard({ token: Redacted.make(token) }), { excludeTestServices: true, timeout: "30 seconds" })("Dashboard: the token", (it) => {
  it.effect("no spelling of a path answers an endpoint without the token", () =>
    Effect.gen(function*() {
      const { dlq, group, stream } = yield* deadLettered()
      const reads = ["/api/snapshot", "/API/snapshot", "/Api/snapshot", "//api/snapshot", "/%61pi/snapshot", "/api/%73napshot", "/api/streams", "/API/streams"]
      for (const path of [...reads, "/api/events", "/API/events", `/API/dlq/${enc(dlq)}`, `/API/streams/${enc(stream)}/groups`]) {
        for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Bearer ${token}x` }] as ReadonlyArray<Record<string, string>>) {
          const reply = yield* raw(path, { headers })
          expect([401, 404], `${path} ${JSON.stringify(headers)}`).toContain(reply.status)
          expect(reply.body, path).not.toContain(stream)
        }
      }
      const pause = `/streams/${enc(stream)}/groups/${enc(group)}/pause`
      const resume = `/streams/${enc(stream)}/groups/${enc(group)}/resume`
      for (const path of [`/api/dlq/${enc(dlq)}/redrive`, `/API/dlq/${enc(dlq)}/redrive`, `/%61pi/dlq/${enc(dlq)}/redrive`, `/API/streams/${enc(stream)}/groups/${enc(group)}/gc`, `/api${pause}`, `/API${pause}`, `//api${pause}`, `/%61pi${pause}`, `/api${resume}`, `/API${resume}`, `//api${resume}`]) {
        for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Bearer ${token}x` }] as ReadonlyArray<Record<string, string>>) {
          expect([401, 404], `${path} ${JSON.stringify(headers)}`).toContain((yield* raw(path, { method: "POST", headers })).status)
        }
      }
      expect(yield* send("XLEN", [dlq])).toBe(1)
      expect(yield* Groups.isPaused(stream, group)).toBe(false)
      // with the token, the group is paused and resumed
      const authorised = { authorization: `Bearer ${token}` }
      expect((yield* raw(`/api${pause}`, { method: "POST", headers: authorised })).status).toBe(200)
      expect(yield* Groups.isPaused(stream, group)).toBe(true)
      expect((yield* raw(`/api${resume}`, { method: "POST", headers: authorised })).status).toBe(200)
      expect(yield* Groups.isPaused(stream, group)).toBe(false)
      // the probes need no token; a spelling that reaches one is that probe, with its own checks (counts only)
      for (const path of ["/healthz", "/HEALTHZ", "//healthz", "/%68ealthz", "/Readyz", "//readyz"]) {
        const reply = yield* raw(path)
        expect([200, 404], path).toContain(reply.status)
        expect(reply.body, path).not.toContain(stream)
      }
      // with the token, in any case of the scheme
      for (const scheme of ["Bearer", "bearer", "BEARER"]) {
        const reply = yield* raw("/api/snapshot", { headers: { authorization: `${scheme} ${token}` } })
        expect(reply.status, scheme).toBe(200)
      }
      expect((yield* raw("/api/events", { headers: { authorization: `Bearer ${token}` } })).body).toContain("event: snapshot")
    }))
})

layer(dashboard({ allowedHosts: ["dash.internal"] }), { excludeTestServices: true, timeout: "30 seconds" })("Dashboard: hosts and frames", (it) => {
  it.effect("answers only IP addresses, localhost and allowedHosts: a rebinding name is refused everywhere", () =>
    Effect.gen(function*() {
      const { dlq, group, stream } = yield* deadLettered()
      const port = new URL(yield* Dashboard.url()).port
      const groupPath = `/api/streams/${enc(stream)}/groups/${enc(group)}`
      for (const host of [`evil.example:${port}`, "evil.example", `localhost.evil.example:${port}`, `127.0.0.1.evil.example:${port}`]) {
        for (
          const [method, path] of [
            ["GET", "/"],
            ["GET", "/api/snapshot"],
            ["GET", "/api/events"],
            ["POST", `/api/dlq/${enc(dlq)}/redrive`],
            ["POST", `${groupPath}/pause`],
            ["POST", `${groupPath}/resume`],
            ["GET", "/healthz"],
            ["GET", "/readyz"]
          ] as const
        ) {
          const reply = yield* raw(path, { method, headers: { host, origin: `http://${host}` } })
          expect(reply.status, `${method} ${path} Host ${host}`).toBe(403)
        }
      }
      expect(yield* send("XLEN", [dlq])).toBe(1)
      expect(yield* Groups.isPaused(stream, group)).toBe(false)
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `dash.internal:${port}`, `DASH.internal:${port}`]) {
        expect((yield* raw("/api/snapshot", { headers: { host } })).status, host).toBe(200)
      }
      const redrive = yield* raw(`/api/dlq/${enc(dlq)}/redrive`, { method: "POST", headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` } })
      expect(redrive.status).toBe(200)
      expect(yield* send("XLEN", [dlq])).toBe(0)
    }))

  it.effect("every answer forbids framing", () =>
    Effect.gen(function*() {
      for (const path of ["/", "/api/snapshot", "/api/nothing"]) {
        const reply = yield* raw(path)
        expect(reply.headers["x-frame-options"], path).toBe("DENY")
        expect(reply.headers["content-security-policy"], path).toContain("frame-ancestors 'none'")
      }
    }))

  it.effect("count is bounded, and keys longer than 100 characters are served", () =>
    Effect.gen(function*() {
      const { stream } = yield* deadLettered()
      expect((yield* raw(`/api/streams/${enc(stream)}/entries?count=1001`)).status).toBe(400)
      expect((yield* raw(`/api/streams/${enc(stream)}/entries?count=1000`)).status).toBe(200)
      const long = yield* deadLettered(`long${"x".repeat(300)}`)
      const groups = yield* raw(`/api/streams/${enc(long.stream)}/groups`)
      expect(groups.status).toBe(200)
      expect(JSON.parse(groups.body)[0].name).toBe(long.group)
      expect(JSON.parse((yield* raw(`/api/dlq/${enc(long.dlq)}`)).body)).toHaveLength(1)
    }))
})

layer(dashboard({ pattern: "stream/{inside*" }), { excludeTestServices: true, timeout: "30 seconds" })("Dashboard: pattern", (it) => {
  it.effect("every endpoint keeps to pattern: a key outside it is a 404, as if it did not exist", () =>
    Effect.gen(function*() {
      const outside = yield* deadLettered("outside")
      const inside = yield* deadLettered("inside")
      const port = new URL(yield* Dashboard.url()).port
      const post = (path: string) => raw(path, { method: "POST", headers: { origin: `http://127.0.0.1:${port}` } })
      for (const names of [outside, inside]) {
        const expected = names === inside ? 200 : 404
        expect((yield* raw(`/api/streams/${enc(names.stream)}/groups`)).status).toBe(expected)
        expect((yield* raw(`/api/streams/${enc(names.stream)}/groups/${enc(names.group)}`)).status).toBe(expected)
        expect((yield* raw(`/api/streams/${enc(names.stream)}/entries`)).status).toBe(expected)
        expect((yield* raw(`/api/dlq/${enc(names.dlq)}`)).status).toBe(expected)
        expect((yield* post(`/api/streams/${enc(names.stream)}/groups/${enc(names.group)}/gc?dryRun=true`)).status).toBe(expected)
        expect((yield* post(`/api/dlq/${enc(names.dlq)}/redrive`)).status).toBe(expected)
        expect((yield* post(`/api/streams/${enc(names.stream)}/groups/${enc(names.group)}/pause`)).status).toBe(expected)
        expect(yield* Groups.isPaused(names.stream, names.group)).toBe(names === inside)
      }
      expect(yield* send("XLEN", [outside.dlq])).toBe(1)
      expect(yield* send("XLEN", [inside.dlq])).toBe(0)
    }))
})

describe("glob", () => {
  layer(RedisTest.layer(), { excludeTestServices: true })((it) => {
    it.effect("matches keys as Redis's SCAN MATCH does", () =>
      Effect.gen(function*() {
        const keys = ["a", "ab", "abc", "b", "a.c", "a*c", "a?c", "a[c", "a]c", "x/y", "{t}s", "A", "a-c", "a^c", "a\\c", "ac"]
        for (const key of keys) yield* send("SET", [`glob:${key}`, "1"])
        const patterns = ["*", "a*", "a?c", "a[bc]*", "a[^b]c", "[a-b]*", "[b-a]", "a\\*c", "a\\?c", "a[*]c", "*c", "x/*", "{t}*", "a[-]c", "a[\\]]c", "a[", "a[]c", "?"]
        for (const pattern of patterns) {
          const reply = yield* send("SCAN", [0, "MATCH", `glob:${pattern}`, "COUNT", 1000])
          const fromRedis = (reply as [string, Array<string>])[1].map((key) => key.slice(5)).sort()
          const match = matcher(`glob:${pattern}`)
          expect(keys.filter((key) => match(`glob:${key}`)).sort(), pattern).toEqual(fromRedis)
        }
      }))
  })
})
