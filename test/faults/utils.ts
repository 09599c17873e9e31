/**
 * Shared harness of the fault suite: a tally of handled entries, consumers
 * and gc forked in the test's scope, the final check that every entry written
 * was handled (or dead-lettered, or trimmed) and none is pending, and the
 * one-line report each case prints.
 */
import { expect } from "@effect/vitest"
import type { Duration, Scope } from "effect"
import { Effect, Fiber, Ref, Schedule } from "effect"
import * as Consumer from "../../src/Consumer.js"
import * as Gc from "../../src/Gc.js"
import * as Groups from "../../src/Groups.js"
import type * as Redis from "../../src/Redis.js"
import { names } from "../gcUtils.js"
import { eventually, pendingCount } from "../utils.js"

/** How many times each entry was handled successfully (by any consumer, in any process). */
export class Tally {
  readonly counts = new Map<string, number>()
  record(id: string): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1)
  }
  /** Distinct entries handled at least once. */
  get handled(): number {
    return this.counts.size
  }
  /** Successful handlings beyond the first, over all entries. */
  get duplicated(): number {
    let n = 0
    for (const times of this.counts.values()) n += times - 1
    return n
  }
}

/** A handler that records the entry in `tally` after `work` succeeds. */
export const recording = <E = never, R = never>(
  tally: Tally,
  work: (message: Consumer.StreamMessage) => Effect.Effect<unknown, E, R> = () => Effect.void
) =>
(message: Consumer.StreamMessage) => Effect.zipRight(work(message), Effect.sync(() => tally.record(message.id)))

/** A control that goes on after a failed handler without logging it (the load case fails on purpose). */
export const quietControl = (event: Consumer.ControlEvent<unknown, unknown>) =>
  event._tag === "HandlerFailed" ? Effect.succeed(Consumer.Control.Recur()) : Consumer.defaultControl(event)

/** A fresh stream and group (reading from the start), and the names of its dead-letter stream. */
export const freshGroup = Effect.suspend(() => {
  const fresh = names()
  return Effect.as(Groups.create(fresh.stream, fresh.group, { from: "0" }), fresh)
})

type RunOptions = Omit<Consumer.Options<unknown, unknown, never, never, never>, "consumer" | "stream" | "streams"> & { readonly stream: string }

/** Forks `n` consumers `consumer/<stream>/<i>` in the test's scope; `block` defaults to 200 ms, `count` to 10. */
export const startConsumers = (n: number, options: RunOptions) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => `consumer/${options.stream}/${i}`),
    (consumer) => Effect.forkScoped(Consumer.run({ block: 200, count: 10, ...options, consumer })),
    { concurrency: "unbounded" }
  )

/**
 * Interrupts the fibers and waits for them to end, failing the test when
 * they do not within `within`: no fiber may hang.
 */
export const stopWithin = (fibers: ReadonlyArray<Fiber.Fiber<unknown, unknown>>, within: Duration.DurationInput = "10 seconds") =>
  Fiber.interruptAll(fibers).pipe(
    Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`fibers did not stop within ${String(within)}`) }),
    Effect.orDie
  )

/** How many passes the schedule ran, and the actions they took, by tag. */
export type ActionCounts = Record<Gc.GcAction["_tag"] | "passes", number>

/**
 * Forks `Gc.schedule` every `every` in the test's scope; returns the running
 * count of its passes and of the actions they took (fed to the schedule as
 * its input; a failed pass feeds none and is not counted).
 */
export const startGc = (
  stream: string,
  group: string,
  options: Gc.CollectOptions,
  every: Duration.DurationInput
): Effect.Effect<Ref.Ref<ActionCounts>, never, Redis.Redis | Scope.Scope> =>
  Effect.gen(function*() {
    const counts = yield* Ref.make<ActionCounts>({ passes: 0, Dlq: 0, Rebalance: 0, FailedRebalance: 0, Noop: 0, Deregister: 0 })
    const policy = Schedule.spaced(every).pipe(
      Schedule.tapInput((actions: ReadonlyArray<Gc.GcAction>) =>
        Ref.update(counts, (all) => {
          const next = { ...all, passes: all.passes + 1 }
          for (const action of actions) next[action._tag]++
          return next
        })
      )
    )
    yield* Effect.forkScoped(Gc.schedule(stream, group, options, policy))
    return counts
  })

/** What a case reports. */
export interface Counts {
  readonly written: number
  readonly handled: number
  readonly deadLettered: number
  readonly duplicated: number
  readonly trimmed?: number
}

export interface Expected {
  readonly stream: string
  readonly group: string
  readonly written: ReadonlyArray<string>
  readonly tally: Tally
  /** The dead-letter stream gc writes to, if any. */
  readonly dlq?: string
  /** Ids trimmed from the stream while pending (acked without being handled). */
  readonly trimmed?: ReadonlySet<string>
  readonly within?: Duration.DurationInput
}

/**
 * Waits (bounded) until every entry written was handled, dead-lettered or
 * trimmed, nothing else was handled, and none stays pending; returns the
 * counts (report them after stopping the consumers, whose handlers finish first).
 */
export const settled = (expected: Expected) =>
  eventually(
    Effect.gen(function*() {
      const { dlq, group, stream, tally, written } = expected
      const letters = dlq === undefined ? [] : yield* Gc.deadLetters(dlq, { stream, group })
      const dead = new Set(letters.map((letter) => letter.id))
      const trimmed = expected.trimmed ?? new Set()
      const missing = written.filter((id) => !tally.counts.has(id) && !dead.has(id) && !trimmed.has(id))
      expect(missing).toEqual([])
      const known = new Set(written)
      expect([...tally.counts.keys()].filter((id) => !known.has(id))).toEqual([])
      expect(yield* pendingCount(stream, group)).toBe(0)
      return {
        written: written.length,
        // read when reported: a duplicate still being handled when the check passes counts once it is done
        get handled() {
          return tally.handled
        },
        deadLettered: dead.size,
        get duplicated() {
          return tally.duplicated
        },
        ...(expected.trimmed === undefined ? {} : { trimmed: trimmed.size })
      } satisfies Counts
    }),
    expected.within ?? "20 seconds"
  )

/** Prints the case's counts on one line, to be quoted: `[fault] <case>: written … / handled … / …`. */
export const report = (name: string, counts: Counts) =>
  Effect.sync(() =>
    console.log(
      `[fault] ${name}: written ${counts.written} / handled ${counts.handled} / dead-lettered ${counts.deadLettered}` +
        ` / duplicated ${counts.duplicated}${counts.trimmed === undefined ? "" : ` / trimmed ${counts.trimmed}`}`
    )
  )
