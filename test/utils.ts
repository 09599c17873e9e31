import type { Duration } from "effect"
import { Clock, Effect, Schedule } from "effect"
import * as replies from "../src/internal/redis/replies.js"
import * as Redis from "../src/Redis.js"

const liveClock = Clock.make()

/**
 * Runs `check` until it succeeds, every 20 ms, failing with its last error
 * when `within` (default 5 seconds) has passed. For waits on a condition
 * in real time: never a bare sleep. The waiting is in real time also under
 * a TestClock (a test that drives a schedule with TestClock still polls
 * real Redis replies). A failed `expect` inside `check` (a defect) counts
 * as not yet.
 */
export const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  within: Duration.DurationInput = "5 seconds"
): Effect.Effect<A, E, R> =>
  Effect.sandbox(check).pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo(within))),
    Effect.unsandbox,
    Effect.withClock(liveClock)
  )

/** Adds `n` entries `{ n: "<i>" }` (i from `from`) to `stream`, returning their ids. */
export const addEntries = (stream: string, n: number, from = 0) =>
  Effect.flatMap(Redis.Redis, (redis) =>
    Effect.forEach(Array.from({ length: n }, (_, i) => from + i), (i) =>
      Effect.map(redis.send("XADD", [stream, "*", "n", String(i)]), String)))

/** How many entries of the group are pending (all consumers, or one). */
export const pendingCount = (stream: string, group: string, consumer?: string) =>
  Effect.flatMap(Redis.Redis, (redis) =>
    consumer === undefined
      ? Effect.map(Effect.flatMap(redis.send("XPENDING", [stream, group]), replies.pendingSummary), (s) => s.count)
      : Effect.map(
        Effect.flatMap(redis.send("XPENDING", [stream, group, "-", "+", 10_000, consumer]), replies.pendingEntries),
        (rows) => rows.length
      ))

/** The pending entries of the group, with idle times and delivery counts. */
export const pendingEntries = (stream: string, group: string) =>
  Effect.flatMap(Redis.Redis, (redis) =>
    Effect.flatMap(redis.send("XPENDING", [stream, group, "-", "+", 10_000]), replies.pendingEntries))

/** The names of the connections that are open now. */
export const connectionNames = Effect.flatMap(Redis.Redis, (redis) =>
  Effect.map(Effect.flatMap(redis.send("CLIENT", ["LIST"]), replies.clientList), (clients) => clients.map((c) => c.name)))

/** True while a connection named `name` is blocked (in a blocking command). */
export const isBlocked = (name: string) =>
  Effect.flatMap(Redis.Redis, (redis) =>
    Effect.map(redis.send("CLIENT", ["LIST"]), (reply) =>
      String(reply).split("\n").some((line) => line.includes(` name=${name} `) && / flags=[^ ]*b/.test(line))))

/** How many times the server ran `command` (INFO commandstats). */
export const commandCalls = (command: string) =>
  Effect.flatMap(Redis.Redis, (redis) =>
    Effect.map(redis.send("INFO", ["commandstats"]), (reply) => {
      const match = new RegExp(`cmdstat_${command.toLowerCase()}:calls=(\\d+)`).exec(String(reply))
      return match === null ? 0 : Number(match[1])
    }))

/** The group's last delivered id (XINFO GROUPS). */
export const lastDeliveredId = (stream: string, group = "g") =>
  Effect.flatMap(Redis.Redis, (redis) =>
    Effect.map(
      Effect.flatMap(redis.send("XINFO", ["GROUPS", stream]), (reply) => replies.infoList("XINFO GROUPS", reply)),
      (rows) => replies.stringField(rows.find((row) => replies.stringField(row, "name") === group) ?? {}, "last-delivered-id")
    ))

/** How many clients are blocked (INFO clients `blocked_clients`), summed over every master. */
export const blockedClients = Effect.gen(function*() {
  const infos = yield* Effect.flatMap(
    Redis.onMasters("INFO", ["clients"]),
    Effect.forEach((reply) => replies.infoText("INFO", reply))
  )
  return infos.reduce((sum, info) => sum + Number(info["blocked_clients"] ?? 0), 0)
})

/**
 * Successful handlings counted per key (an entry's id, or a field): an entry
 * handled twice counts 2, so a test sees a duplicate that a set of distinct
 * ids would hide.
 */
export class Deliveries<K> {
  readonly counts = new Map<K, number>()
  record(key: K): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }
  has(key: K): boolean {
    return this.counts.has(key)
  }
  /** How many times the key was handled. */
  count(key: K): number {
    return this.counts.get(key) ?? 0
  }
  /** Distinct keys handled. */
  get size(): number {
    return this.counts.size
  }
  /** The keys handled more than once. */
  get twice(): ReadonlyArray<K> {
    return [...this.counts].filter(([, n]) => n > 1).map(([key]) => key)
  }
}
