/**
 * Delayed delivery (`delay` / `at` on `Streams.xaddMap`, `xaddAll` and the
 * typed sends): held in Redis beside the stream, moved in when due by one
 * script, exactly once whatever the number of promoters, in due order and
 * never early; a consumer's blocking read waits no longer than the next due
 * time; handles promote and cancel; bad input is typed, nothing written.
 */
import { expect, layer } from "@effect/vitest"
import type { Scope } from "effect"
import { Effect, Fiber, Option, Schema } from "effect"
import { spawn } from "node:child_process"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import type * as RedisError from "../src/RedisError.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import * as Topic from "../src/Topic.js"
import { eventually } from "./utils.js"

const promoter = new URL("./support/promoter.ts", import.meta.url).pathname

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))
const xlen = (stream: string) => Effect.map(send("XLEN", [stream]), Number)
const idMillis = (id: string) => Number(id.slice(0, id.indexOf("-")))

/** Three promoter processes on `stream`, until the scope closes (or they are killed). */
const promoters = (url: string, stream: string): Effect.Effect<{ readonly kill: Effect.Effect<void> }, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        [0, 1, 2].map(() => spawn(process.execPath, ["--import", "tsx", promoter, url, stream], { stdio: ["ignore", "pipe", "pipe"] }))
      ),
      (children) => Effect.sync(() => children.forEach((child) => child.kill("SIGKILL")))
    ),
    (children) => ({ kill: Effect.sync(() => children.forEach((child) => child.kill("SIGKILL"))) })
  )

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("delayed delivery", (it) => {
  it.effect("a consumer's blocking read waits no longer than a known due time, and within one block for one written meanwhile; never early", () =>
    Effect.gen(function*() {
      const stream = "stream/delayed-one"
      const group = "group/delayed-one"
      yield* Groups.create(stream, group)
      const handled: Array<{ readonly at: number; readonly fields: Record<string, string> }> = []
      const consumer = (name: string, block: number) =>
        Effect.fork(Consumer.run({
          stream,
          group,
          consumer: name,
          block,
          handler: (message) => Effect.sync(() => void handled.push({ at: Date.now(), fields: message.fields }))
        }))
      // held before the consumer starts: its 10 s block is cut to the due time
      const written = Date.now()
      const handle = yield* Streams.xaddMap(stream, "*", { order: "1" }, { delay: "800 millis" })
      expect(handle).toMatch(/^delayed:/)
      expect(yield* xlen(stream)).toBe(0)
      const stats = yield* Streams.delayedStats(stream)
      expect(stats.count).toBe(1)
      expect(Option.getOrThrow(stats.nextDue).getTime()).toBeGreaterThanOrEqual(written + 790)
      expect((yield* Groups.stats(stream, group)).delayed).toEqual(stats)
      const patient = yield* consumer("consumer/delayed/patient", 10_000)
      yield* eventually(Effect.sync(() => expect(handled).toHaveLength(1)), "12 seconds")
      expect(handled[0]!.fields).toEqual({ order: "1" })
      expect(handled[0]!.at - written).toBeGreaterThanOrEqual(795)
      expect(handled[0]!.at - written).toBeLessThan(2_500)
      yield* Fiber.interrupt(patient)

      // held while a consumer blocks (1 s): it learns of it when its block ends, so within one block of the due time
      const quick = yield* consumer("consumer/delayed/quick", 1_000)
      yield* eventually(Effect.filterOrFail(send("CLIENT", ["LIST"]), (list) => /name=consumer\/delayed\/quick .*cmd=xreadgroup/.test(String(list))))
      const later = Date.now()
      yield* Streams.xaddMap(stream, "*", { order: "2" }, { delay: "300 millis" })
      yield* eventually(Effect.sync(() => expect(handled).toHaveLength(2)), "5 seconds")
      expect(handled[1]!.at - later).toBeGreaterThanOrEqual(295)
      expect(handled[1]!.at - later).toBeLessThan(300 + 1_000 + 700)
      expect((yield* Streams.delayedStats(stream)).count).toBe(0)
      yield* Fiber.interrupt(quick)
    }))

  it.effect("1 000 entries due at mixed times, three promoter processes, killed and restarted part way: each delivered once, in due order, none early", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const stream = "stream/delayed-race"
      const start = Date.now() + 300
      const dues = Array.from({ length: 1_000 }, (_, n) => start + ((n * 7919) % 1_000) * 2)
      yield* Effect.forEach(dues, (due, n) => Streams.xaddMap(stream, "*", { n, due }, { at: new Date(due) }), { concurrency: 50, discard: true })
      expect((yield* Streams.delayedStats(stream)).count).toBe(1_000)
      yield* Effect.scoped(Effect.gen(function*() {
        const first = yield* promoters(server.url, stream)
        yield* eventually(Effect.filterOrFail(xlen(stream), (n) => n >= 300), "10 seconds")
        yield* first.kill
        // killed part way: every entry is in the stream or still held, none twice
        const moved = yield* xlen(stream)
        expect(moved + (yield* Streams.delayedStats(stream)).count).toBe(1_000)
        yield* promoters(server.url, stream)
        yield* eventually(Effect.filterOrFail(xlen(stream), (n) => n === 1_000), "15 seconds")
      }))
      expect((yield* Streams.delayedStats(stream)).count).toBe(0)
      const entries = yield* Streams.read(stream, { count: 2_000 })
      expect(entries).toHaveLength(1_000)
      expect(new Set(entries.map((entry) => entry.fields["n"])).size).toBe(1_000)
      const inOrder = entries.map((entry) => Number(entry.fields["due"]))
      expect(inOrder).toEqual([...inOrder].sort((a, b) => a - b))
      // never early: each entry's id (the server's time when it was moved in) is at or after its due time
      expect(entries.filter((entry) => idMillis(entry.id) < Number(entry.fields["due"]))).toEqual([])
    }))

  it.effect("a handle promotes now or cancels; a delay of 0 or an at in the past writes at once; xaddAll and Topic.send take a delay", () =>
    Effect.gen(function*() {
      const stream = "stream/{dl}handles"
      const [early, dropped] = yield* Streams.xaddAll(stream, [{ k: "early" }, { k: "dropped" }], { delay: "1 hour" })
      expect((yield* Streams.delayedStats(stream)).count).toBe(2)
      const id = Option.getOrThrow(yield* Streams.promoteDelayed(stream, early!))
      expect((yield* Streams.read(stream)).map((entry) => [entry.id, entry.fields])).toEqual([[id, { k: "early" }]])
      expect(yield* Streams.promoteDelayed(stream, early!)).toEqual(Option.none())
      expect(yield* Streams.cancelDelayed(stream, dropped!)).toBe(true)
      expect(yield* Streams.cancelDelayed(stream, dropped!)).toBe(false)
      expect((yield* Streams.delayedStats(stream)).count).toBe(0)
      expect(yield* Streams.promoteDue(stream)).toEqual([])
      const now = yield* Streams.xaddMap(stream, "*", { k: "now" }, { delay: 0 })
      const past = yield* Streams.xaddMap(stream, "*", { k: "past" }, { at: new Date(Date.now() - 60_000) })
      expect([now, past].every((written) => /^\d+-\d+$/.test(written))).toBe(true)
      expect(yield* xlen(stream)).toBe(3)
      const Orders = Topic.make({ stream, schema: Schema.Struct({ id: Schema.String, total: Schema.NumberFromString }) })
      const handle = yield* Topic.send(Orders, { id: "o-1", total: 5 }, { delay: "1 hour" })
      expect(handle).toMatch(/^delayed:/)
      yield* Streams.promoteDelayed(stream, handle)
      expect((yield* Streams.read(stream)).at(-1)!.fields).toEqual({ id: "o-1", total: "5" })
    }))

  it.effect("bad input is an InvalidArgument and nothing is held or written", () =>
    Effect.gen(function*() {
      const stream = "stream/delayed-bad"
      const refused: ReadonlyArray<Effect.Effect<unknown, RedisError.RedisError, Redis.Redis>> = [
        Streams.xaddMap(stream, "*", { n: 1 }, { delay: -1 }),
        Streams.xaddMap(stream, "*", { n: 1 }, { delay: "-5 seconds" }),
        Streams.xaddMap(stream, "*", { n: 1 }, { delay: NaN }),
        Streams.xaddMap(stream, "*", { n: 1 }, { delay: Infinity }),
        Streams.xaddMap(stream, "*", { n: 1 }, { delay: "1 second", at: new Date(Date.now() + 1000) }),
        Streams.xaddMap(stream, "*", { n: 1 }, { at: new Date("not a date") }),
        Streams.xaddMap(stream, "5-1", { n: 1 }, { delay: "1 second" }),
        Streams.xaddMap(stream, "*", { n: 1 }, { delay: "1 second", dedupe: { key: "k", ttl: "1 minute" } }),
        Streams.xaddMap(stream, "*", { n: Buffer.from("x") }, { delay: "1 second" }),
        Streams.xaddMap("odd}name", "*", { n: 1 }, { delay: "1 second" }),
        Streams.promoteDue("odd}name"),
        Streams.promoteDue(stream, { count: 0 }),
        Streams.cancelDelayed("has space", "delayed:x")
      ]
      for (const [i, effect] of refused.entries()) {
        expect(yield* Effect.flip(effect), `case ${i}`).toMatchObject({ _tag: "RedisError", reason: "InvalidArgument" })
      }
      expect((yield* Streams.delayedStats(stream)).count).toBe(0)
      expect(yield* xlen(stream)).toBe(0)
    }))
})
