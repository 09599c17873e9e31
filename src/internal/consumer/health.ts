/**
 * The consumers running in this process, for health checks: each one's
 * loop registers itself for as long as it runs and records, per read (not
 * per entry), when a read last returned and whether its connection works.
 * One registry per process (as Effect's metric registry is), so a probe
 * finds every consumer whichever runtime or layer started it.
 */
import { Effect, Option } from "effect"
import { globalValue } from "effect/GlobalValue"
import * as Groups from "../../Groups.js"
import type * as Redis from "../../Redis.js"

/** A running consumer as the loop updates it. */
export interface Live {
  readonly streams: ReadonlyArray<string>
  readonly group: string
  readonly consumer: string
  /** Epoch ms. */
  readonly startedAt: number
  /** Epoch ms of the last read that returned, if one has. */
  lastReadAt: number | undefined
  /** Whether the last read succeeded (false before the first, and after a lost connection until a read succeeds). */
  connected: boolean
}

const registry = globalValue(Symbol.for("effect-redis-streams/internal/consumer/health"), () => new Set<Live>())

/** Registers a consumer for the scope's lifetime. */
export const register = (streams: ReadonlyArray<string>, group: string, consumer: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const live: Live = { streams, group, consumer, startedAt: Date.now(), lastReadAt: undefined, connected: false }
      registry.add(live)
      return live
    }),
    (live) => Effect.sync(() => registry.delete(live))
  )

/** The consumers running now, in the order they started. */
export const running = (): ReadonlyArray<Live> => [...registry]

/** A running consumer as a check sees it. */
export interface ConsumerState {
  readonly streams: ReadonlyArray<string>
  readonly group: string
  readonly consumer: string
  readonly startedAt: Date
  /** When its loop last took a read's reply; `undefined` before the first. */
  readonly lastReadAt: Date | undefined
  /** Whether its last read succeeded: false before the first, and after a lost connection until a read succeeds. */
  readonly connected: boolean
}

/** A running consumer with what Redis says of it. */
export interface ConsumerHealth extends ConsumerState {
  /** Its pending entries (delivered to it, not acked yet) over its streams; `undefined` when Redis did not answer in time. */
  readonly pending: number | undefined
  /** Its group's lag over its streams (entries not delivered to the group yet); `undefined` when Redis did not answer in time. */
  readonly lag: number | undefined
}

/** Whether every consumer running in this process has read lately, and those that have not. */
export interface Readiness {
  readonly ready: boolean
  /** How many consumers run in this process. */
  readonly consumers: number
  /** Those not connected, or whose last read is older than `maxAge` (or that have not read yet). */
  readonly unready: ReadonlyArray<ConsumerState>
}

const stateOf = (live: Live): ConsumerState => ({
  streams: live.streams,
  group: live.group,
  consumer: live.consumer,
  startedAt: new Date(live.startedAt),
  lastReadAt: live.lastReadAt === undefined ? undefined : new Date(live.lastReadAt),
  connected: live.connected
})

/** Whether a consumer is ready at `now`: connected, and its last read at most `maxAge` ms ago. */
export const isFresh = (live: Live, maxAge: number, now: number): boolean =>
  live.connected && live.lastReadAt !== undefined && now - live.lastReadAt <= maxAge

/** The readiness of the consumers running now: in memory, no round trip. */
export const readiness = (maxAge: number): Readiness => {
  const now = Date.now()
  const all = running()
  return {
    ready: all.every((live) => isFresh(live, maxAge, now)),
    consumers: all.length,
    unready: all.filter((live) => !isFresh(live, maxAge, now)).map(stateOf)
  }
}

const sum = (values: ReadonlyArray<number | undefined>): number | undefined =>
  values.some((value) => value === undefined) ? undefined : values.reduce<number>((a, b) => a + b!, 0)

/**
 * The consumers running now with their pending counts and their groups'
 * lag, read with one `Groups.stats` per stream and group (concurrently),
 * each given up after `timeout` ms.
 */
export const health = (timeout: number): Effect.Effect<ReadonlyArray<ConsumerHealth>, never, Redis.Redis> =>
  Effect.gen(function*() {
    const all = running()
    const pairs = new Map<string, { readonly stream: string; readonly group: string }>()
    for (const live of all) for (const stream of live.streams) pairs.set(JSON.stringify([stream, live.group]), { stream, group: live.group })
    const stats = new Map<string, Groups.GroupStats | undefined>()
    yield* Effect.forEach(pairs, ([key, { group, stream }]) =>
      Groups.stats(stream, group).pipe(
        Effect.timeout(timeout),
        Effect.option,
        Effect.map((found) => stats.set(key, Option.getOrUndefined(found)))
      ), { concurrency: "unbounded", discard: true })
    return all.map((live): ConsumerHealth => {
      const of = live.streams.map((stream) => stats.get(JSON.stringify([stream, live.group])))
      return {
        ...stateOf(live),
        pending: sum(of.map((group) => group && (group.consumers.find((c) => c.name === live.consumer)?.pending ?? 0))),
        lag: sum(of.map((group) => group?.unconsumed))
      }
    })
  })
