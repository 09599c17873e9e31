/**
 * Nothing is lost by moving it: field names from user data (`__proto__`,
 * `constructor`) are fields like any other everywhere, a redrive writes the
 * entry before it deletes the letter (a failed write deletes nothing),
 * letters of any width are written and redriven, and a negative duration
 * is refused instead of read as zero.
 */
import { expect, layer } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect, Fiber } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"
import { names, read } from "./gcUtils.js"
import { eventually } from "./utils.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

/** Fields as a web request would bring them: JSON.parse makes `__proto__` an own key. */
const fromJson = (json: string) => JSON.parse(json) as Record<string, string>

/** Writes `fields` to a fresh stream, delivers it once and dead-letters it with gc; returns the names. */
const letterOf = (fields: Record<string, string>) =>
  Effect.gen(function*() {
    const n = names()
    yield* Groups.create(n.stream, n.group, { from: "0" })
    yield* Streams.xaddMap(n.stream, "*", fields)
    yield* read(n.stream, n.group, n.consumer(0), 1)
    const actions = yield* Gc.collect(n.stream, n.group, { dlq: { deliveries: 1, stream: n.dlq }, rebalance: false, deregister: false })
    expect(actions.map((action) => action._tag)).toEqual(["Dlq"])
    return n
  })

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Letters and fields", (it) => {
  it.effect("a field named __proto__ or constructor survives reads, the handler, letters and redrive", () =>
    Effect.gen(function*() {
      const fields = fromJson(`{"__proto__": "p", "constructor": "c", "n": "1"}`)
      const n = yield* letterOf(fields)
      const [letter] = yield* Gc.deadLetters(n.dlq)
      expect(Object.entries(letter!.fields!)).toEqual([["__proto__", "p"], ["constructor", "c"], ["n", "1"]])
      // nothing inherited: no Object.prototype in the chain
      expect("toString" in letter!.fields!).toBe(false)
      expect(Object.getPrototypeOf(Object.getPrototypeOf(letter!.fields))).toBe(null)
      expect(yield* Gc.redrive(n.dlq)).toHaveLength(1)
      const [entry] = yield* Streams.read(n.stream, { from: letter!.id.replace(/-\d+$/, "-1") })
      expect(Object.entries(entry!.fields!)).toEqual([["__proto__", "p"], ["constructor", "c"], ["n", "1"]])
      // and the handler gets it
      const seen: Array<ReadonlyArray<readonly [string, string]>> = []
      const fiber = yield* Effect.fork(Consumer.run({
        stream: n.stream,
        group: n.group,
        consumer: n.consumer(1),
        block: "100 millis",
        handler: (message) => Effect.sync(() => seen.push(Object.entries(message.fields)))
      }))
      yield* eventually(Effect.sync(() => expect(seen).toEqual([[["__proto__", "p"], ["constructor", "c"], ["n", "1"]]])))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a letter whose only field is __proto__ is redriven, not destroyed", () =>
    Effect.gen(function*() {
      const n = yield* letterOf(fromJson(`{"__proto__": "only"}`))
      const redriven = yield* Gc.redrive(n.dlq)
      expect(redriven).toHaveLength(1)
      expect(yield* send("XLEN", [n.dlq])).toBe(0)
      const entries = yield* Streams.read(n.stream)
      expect(entries.map((entry) => Object.entries(entry.fields!))).toContainEqual([["__proto__", "only"]])
    }))

  it.effect("a redrive whose write fails (out of memory) deletes no letter", () =>
    Effect.gen(function*() {
      const n = yield* letterOf({ n: "1" })
      yield* send("CONFIG", ["SET", "maxmemory-policy", "noeviction"])
      yield* send("CONFIG", ["SET", "maxmemory", "1"])
      const error = yield* Effect.flip(Gc.redrive(n.dlq)).pipe(Effect.ensuring(Effect.orDie(send("CONFIG", ["SET", "maxmemory", "0"]))))
      expect(error).toMatchObject({ _tag: "RedisError" })
      expect(error.message).toMatch(/OOM/)
      expect(yield* Gc.deadLetters(n.dlq)).toHaveLength(1)
      expect(yield* Gc.redrive(n.dlq)).toHaveLength(1)
      expect(yield* send("XLEN", [n.dlq])).toBe(0)
    }))

  it.effect("an entry of 5 000 fields is dead-lettered and redriven whole", () =>
    Effect.gen(function*() {
      const fields: Record<string, string> = {}
      for (let i = 0; i < 5_000; i++) fields[`f${i}`] = `v${i}`
      const n = yield* letterOf(fields)
      const [letter] = yield* Gc.deadLetters(n.dlq)
      expect(Object.keys(letter!.fields!)).toHaveLength(5_000)
      expect((yield* Groups.stats(n.stream, n.group)).pending).toBe(0)
      expect(yield* Gc.redrive(n.dlq)).toHaveLength(1)
      expect(yield* send("XLEN", [n.dlq])).toBe(0)
      const entries = yield* Streams.read(n.stream)
      expect(entries.map((entry) => Object.keys(entry.fields!).length)).toEqual([5_000, 5_000])
      expect(entries[1]!.fields).toEqual(fields)
    }))

  it.effect("negative durations are refused, never read as zero", () =>
    Effect.gen(function*() {
      const n = names()
      yield* Groups.create(n.stream, n.group, { from: "0" })
      yield* Streams.xaddMap(n.stream, "*", { n: 1 })
      yield* read(n.stream, n.group, n.consumer(0), 1)
      for (const idle of [-1, "-5 seconds", [-1, 0]] as ReadonlyArray<Duration.DurationInput>) {
        const error = yield* Effect.flip(Gc.collect(n.stream, n.group, { dlq: { idle, stream: n.dlq } }))
        expect(error, JSON.stringify(idle)).toMatchObject({ reason: "InvalidArgument", message: expect.stringMatching(/dlq.idle/) })
      }
      expect((yield* Groups.stats(n.stream, n.group)).pending).toBe(1)
      expect(yield* Effect.flip(Groups.deregisterIdle(n.stream, n.group, "-1 minutes"))).toMatchObject({ reason: "InvalidArgument" })
      const consumer = yield* Effect.flip(Consumer.run({ stream: n.stream, group: n.group, consumer: "c", block: -1, handler: () => Effect.void }))
      expect(consumer).toMatchObject({ reason: "InvalidArgument", message: expect.stringMatching(/block/) })
      const claim = yield* Effect.flip(Consumer.run({ stream: n.stream, group: n.group, consumer: "c", claim: { idle: "-1 seconds" }, handler: () => Effect.void }))
      expect(claim).toMatchObject({ reason: "InvalidArgument", message: expect.stringMatching(/claim.idle/) })
    }))
})
