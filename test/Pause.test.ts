/**
 * Pausing a group (`Groups.pause` / `resume`): every consumer of it, in any
 * process, is woken from its blocking read, starts no handler and reads
 * nothing while it is paused (what Redis delivered to the group is the
 * judge), lets a running handler finish and acks it, and drains everything
 * after the resume; a consumer started while its group is paused waits.
 */
import { expect, layer } from "@effect/vitest"
import type { Scope } from "effect"
import { Effect, Fiber, Metric, MetricLabel, Option } from "effect"
import { spawn } from "node:child_process"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import { addEntries, Deliveries, eventually, isBlocked, pendingCount } from "./utils.js"

const groupProcess = new URL("./support/groupProcess.ts", import.meta.url).pathname

let counter = 0
const fresh = () => {
  const tag = `pause${++counter}`
  return { stream: `stream/${tag}`, group: `group/${tag}`, name: tag }
}

/** Entries of the stream not delivered to the group yet (Redis 7's lag), and those delivered and not acked. */
const groupState = (stream: string, group: string) =>
  Effect.map(Groups.stats(stream, group), (stats) => ({ unconsumed: stats.unconsumed, pending: stats.pending, paused: stats.paused }))

/** Waits until the consumer has checked its paused group twice after now: time enough to have read, had it read. */
const twoChecks = (consumer: string) =>
  Effect.gen(function*() {
    let after = Date.now()
    for (let i = 0; i < 2; i++) {
      const seen = yield* eventually(
        Effect.filterOrFail(
          Effect.map(Consumer.health(), (all) => all.find((h) => h.consumer === consumer)?.lastReadAt?.getTime() ?? 0),
          (at: number) => at > after
        ),
        "5 seconds"
      )
      after = seen
    }
  })

const pausesOf = (stream: string, group: string) =>
  Metric.value(Consumer.metrics.pauses.pipe(Metric.taggedWithLabels([MetricLabel.make("stream", stream), MetricLabel.make("group", group)])))

const consumerOf = (stream: string, group: string, consumer: string, handled: Deliveries<string>, block = 5_000) =>
  Effect.fork(Consumer.run({ stream, group, consumer, block, handler: (message) => Effect.sync(() => handled.record(message.id)) }))

/** The group process (two consumers, blocking 20 s), until the scope closes. */
const otherProcess = (url: string, stream: string, group: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => spawn(process.execPath, ["--import", "tsx", groupProcess, url, stream, group], { stdio: ["ignore", "pipe", "pipe"] })),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  ).pipe(Effect.asVoid)

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Groups.pause", (it) => {
  it.scoped("consumers in two processes are woken, read nothing while paused, and drain everything after the resume", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const { group, name, stream } = fresh()
      yield* Groups.create(stream, group)
      const handled = new Deliveries<string>()
      const here = [`consumer/${name}/here-0`, `consumer/${name}/here-1`]
      const fibers = yield* Effect.forEach(here, (consumer) => consumerOf(stream, group, consumer, handled))
      yield* otherProcess(server.url, stream, group)
      const there = [`consumer/${name}/0`, `consumer/${name}/1`]
      // all four blocked on their reads, 5 and 20 seconds long
      yield* eventually(Effect.forEach([...here, ...there], (consumer) => Effect.filterOrFail(isBlocked(consumer), (blocked) => blocked)), "20 seconds")
      const before = yield* addEntries(stream, 20)
      yield* eventually(Effect.filterOrFail(groupState(stream, group), (s) => s.unconsumed === 0 && s.pending === 0))

      yield* Groups.pause(stream, group)
      expect(yield* Groups.isPaused(stream, group)).toBe(true)
      // woken at once: none of the four is blocked, though their blocks are far from over
      yield* eventually(Effect.forEach([...here, ...there], (consumer) => Effect.filterOrFail(isBlocked(consumer), (blocked) => !blocked)), "2 seconds")
      yield* eventually(Effect.filterOrFail(pausesOf(stream, group), (pauses) => pauses.count >= 2))
      const handledAtPause = handled.size
      const during = yield* addEntries(stream, 30, 20)
      yield* Effect.forEach(here, twoChecks, { concurrency: "unbounded" })
      // nothing delivered to the group meanwhile, by any consumer of either process
      expect(yield* groupState(stream, group)).toEqual({ unconsumed: 30, pending: 0, paused: true })
      expect(handled.size).toBe(handledAtPause)

      yield* Groups.resume(stream, group)
      expect(yield* Groups.isPaused(stream, group)).toBe(false)
      yield* eventually(Effect.filterOrFail(groupState(stream, group), (s) => s.unconsumed === 0 && s.pending === 0), "10 seconds")
      // every entry of this process's share handled once; the rest went to the other process and were acked there
      expect(handled.twice).toEqual([])
      expect(before.length + during.length).toBe(50)
      yield* Effect.forEach(fibers, Fiber.interrupt)
    }))

  it.scoped("a running handler finishes and is acked while paused; a consumer started while paused waits", () =>
    Effect.gen(function*() {
      const { group, name, stream } = fresh()
      yield* Groups.create(stream, group)
      const gate = yield* Effect.makeLatch(false)
      const started: Array<string> = []
      const slow = yield* Effect.fork(Consumer.run({
        stream,
        group,
        consumer: `consumer/${name}/slow`,
        block: 200,
        count: 1,
        handler: (message) => Effect.zipRight(Effect.sync(() => started.push(message.id)), gate.await)
      }))
      const [first] = yield* addEntries(stream, 1)
      yield* eventually(Effect.sync(() => expect(started).toEqual([first])))
      yield* Groups.pause(stream, group)
      yield* gate.open
      // the running one is acked though the group is paused
      yield* eventually(Effect.filterOrFail(pendingCount(stream, group), (n) => n === 0))
      const handled = new Deliveries<string>()
      const late = yield* consumerOf(stream, group, `consumer/${name}/late`, handled, 200)
      yield* addEntries(stream, 5, 1)
      yield* twoChecks(`consumer/${name}/late`)
      yield* twoChecks(`consumer/${name}/slow`)
      expect(started).toEqual([first])
      expect(handled.size).toBe(0)
      expect((yield* groupState(stream, group)).unconsumed).toBe(5)
      yield* Groups.resume(stream, group)
      yield* eventually(Effect.filterOrFail(groupState(stream, group), (s) => s.unconsumed === 0 && s.pending === 0), "10 seconds")
      expect(started.length + handled.size).toBe(6)
      yield* Fiber.interrupt(late)
      yield* Fiber.interrupt(slow)
    }))

  it.effect("pause state: stats, pausedSince keeps the first pause, resume of a running group does nothing; bad input is typed", () =>
    Effect.gen(function*() {
      const { group, stream } = fresh()
      yield* Groups.create(stream, group)
      expect((yield* Groups.stats(stream, group)).paused).toBe(false)
      expect(yield* Groups.pausedSince(stream, group)).toEqual(Option.none())
      yield* Groups.resume(stream, group)
      const before = Date.now()
      yield* Groups.pause(stream, group)
      const since = Option.getOrThrow(yield* Groups.pausedSince(stream, group))
      expect(since.getTime()).toBeGreaterThanOrEqual(before - 1)
      yield* Groups.pause(stream, group)
      expect(Option.getOrThrow(yield* Groups.pausedSince(stream, group))).toEqual(since)
      expect((yield* Groups.stats(stream, group)).paused).toBe(true)
      yield* Groups.resume(stream, group)
      expect((yield* Groups.stats(stream, group)).paused).toBe(false)

      const redis = yield* Redis.Redis
      yield* redis.send("SET", ["not-a-stream", "x"])
      const cases: ReadonlyArray<readonly [Effect.Effect<unknown, { readonly reason: string }, Redis.Redis>, string]> = [
        [Groups.pause(stream, "group/none"), "NoGroup"],
        [Groups.resume(stream, "group/none"), "NoGroup"],
        [Groups.pause("stream/none", group), "NoSuchKey"],
        [Groups.pause("not-a-stream", group), "WrongType"],
        [Groups.pause("has space", group), "InvalidArgument"],
        [Groups.pause(stream, ""), "InvalidArgument"],
        [Groups.isPaused("odd}name", group), "InvalidArgument"]
      ]
      for (const [effect, reason] of cases) expect((yield* Effect.flip(effect)).reason).toBe(reason)
    }))
})
