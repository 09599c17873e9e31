/**
 * One `Gc.collect` pass over a dead consumer's backlog: rebalancing every
 * entry to its sibling, or dead-lettering every entry.
 */
import { Effect } from "effect"
import * as Gc from "../src/Gc.js"
import * as Redis from "../src/Redis.js"
import { seedPending } from "./raw.js"
import type { Ctx, Scenario } from "./scenario.js"
import { timed } from "./scenario.js"

const gcPass = (ctx: Ctx, tag: Gc.GcAction["_tag"], options: Gc.CollectOptions) =>
  timed(Gc.collect(ctx.stream, ctx.group, options)).pipe(
    Effect.map(([seconds, actions]) => ({ handled: actions.filter((action) => action._tag === tag).length, seconds })),
    Effect.provide(Redis.layer(ctx.url))
  )

const gcSize = { full: 100_000, quick: 10_000 }

/** The gc scenarios. */
export const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "gc/library-rebalance",
    description: "one Gc.collect pass claiming every pending entry of a dead consumer for its sibling",
    baseline: undefined,
    size: gcSize,
    setup: seedPending,
    run: (ctx) => gcPass(ctx, "Rebalance", { rebalance: { idle: 0 }, dlq: false, deregister: false })
  },
  {
    name: "gc/library-dlq",
    description: "one Gc.collect pass dead-lettering every pending entry",
    baseline: undefined,
    size: gcSize,
    setup: seedPending,
    run: (ctx) => gcPass(ctx, "Dlq", { rebalance: false, dlq: { deliveries: 1, stream: `${ctx.stream}/dlq` }, deregister: false })
  }
]
