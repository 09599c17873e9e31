/**
 * The pure part of a gc pass: what happens to each pending entry of a page
 * (the `GcAction` data, re-exported by `Gc`), which sibling claims it, and
 * how pending counts move with the actions. No Redis calls: the pass
 * (`pass.ts`) carries the plans out.
 */
import { Data, Effect, Random } from "effect"
import type * as Replies from "../redis/replies.js"
import type { Settings } from "./settings.js"
import { exceeds } from "./settings.js"

/**
 * What a pass did (or, with `dryRun`, would do) with a pending entry or a consumer.
 *
 * - `Dlq`: written to the dead-letter stream and acked.
 * - `Rebalance`: claimed for `claimant`.
 * - `FailedRebalance`: due for rebalancing, but there was no other (active) consumer.
 * - `Noop`: left with its consumer (no threshold met, or it was acked or
 *   claimed by someone else while the pass ran).
 * - `Deregister`: the consumer was removed from the group.
 *
 * @since 0.1.0
 * @category models
 */
export type GcAction = Data.TaggedEnum<{
  Dlq: { readonly id: string; readonly consumer: string }
  Rebalance: { readonly id: string; readonly consumer: string; readonly claimant: string }
  FailedRebalance: { readonly id: string; readonly consumer: string }
  Noop: { readonly id: string; readonly consumer: string }
  Deregister: { readonly consumer: string }
}>

/**
 * Constructors and matchers of {@link GcAction}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const GcAction = Data.taggedEnum<GcAction>()

/** The consumers entries may be claimed for, in the order `lra`/`mra` pick them. */
export const siblingsOf = (settings: Settings, consumers: ReadonlyArray<Replies.ConsumerInfo>): ReadonlyArray<Replies.ConsumerInfo> => {
  if (settings.rebalance === false) return []
  const { distribution, idle, siblings } = settings.rebalance
  const eligible = siblings === "active"
    ? consumers.filter((c) => !(c.pending > 0 && idle !== undefined && c.idle > idle))
    : consumers
  return distribution === "random" ? eligible : [...eligible].sort((a, b) => distribution === "lra" ? b.idle - a.idle : a.idle - b.idle)
}

/** A small seeded generator (mulberry32): one seed from Effect's `Random` per page, not one effect per entry. */
const generator = (seed: number) => {
  let state = seed >>> 0
  return (bound: number): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * bound)
  }
}

/** Picks the claimant of an entry: never its owner; `undefined` when there is no other sibling. */
export const claimantFor = (settings: Settings, siblings: ReadonlyArray<Replies.ConsumerInfo>) => {
  const othersOf = new Map<string, ReadonlyArray<Replies.ConsumerInfo>>()
  const random = settings.rebalance !== false && settings.rebalance.distribution === "random"
  return (owner: string, pick: (bound: number) => number): string | undefined => {
    let others = othersOf.get(owner)
    if (others === undefined) {
      others = siblings.filter((c) => c.name !== owner)
      othersOf.set(owner, others)
    }
    if (others.length === 0) return undefined
    return others[random ? pick(others.length) : 0]!.name
  }
}

export type Planned = GcAction["_tag"]

export interface Plan {
  readonly entry: Replies.PendingEntry
  readonly action: Planned
  readonly claimant?: string
}

export const planPage = (
  settings: Settings,
  claimant: (owner: string, pick: (bound: number) => number) => string | undefined,
  page: ReadonlyArray<Replies.PendingEntry>
): Effect.Effect<ReadonlyArray<Plan>> =>
  Effect.map(Random.nextInt, (seed) => {
    const pick = generator(seed)
    return page.map((entry): Plan => {
      if (settings.dlq !== false && exceeds(settings.dlq, entry)) return { entry, action: "Dlq" }
      if (settings.rebalance === false || !exceeds(settings.rebalance, entry)) return { entry, action: "Noop" }
      const to = claimant(entry.consumer, pick)
      return to === undefined ? { entry, action: "FailedRebalance" } : { entry, action: "Rebalance", claimant: to }
    })
  })

export const toAction = ({ action, claimant, entry: { consumer, id } }: Plan): GcAction => {
  switch (action) {
    case "Rebalance":
      return GcAction.Rebalance({ id, consumer, claimant: claimant! })
    case "Dlq":
      return GcAction.Dlq({ id, consumer })
    case "FailedRebalance":
      return GcAction.FailedRebalance({ id, consumer })
    default:
      return GcAction.Noop({ id, consumer })
  }
}

/** Moves the pending counts along with the entries, so deregistration sees the state after the pass. */
export const track = (pending: Map<string, number>, plans: ReadonlyArray<Plan>) => {
  for (const { action, claimant, entry } of plans) {
    if (action !== "Dlq" && action !== "Rebalance") continue
    pending.set(entry.consumer, (pending.get(entry.consumer) ?? 0) - 1)
    if (claimant !== undefined) pending.set(claimant, (pending.get(claimant) ?? 0) + 1)
  }
}

