/**
 * The library's writes: `Streams.xaddMap` one awaited call per entry, and
 * `Streams.xaddAll` (pipelined batches) for all of them at once, plain,
 * delayed (held in the delayed set) and with a dedupe key per record (one
 * script per record instead of an XADD).
 */
import { Effect } from "effect"
import * as Redis from "../src/Redis.js"
import * as Streams from "../src/Streams.js"
import type { Ctx, Measured, Scenario } from "./scenario.js"
import { nowMs, PAYLOAD, timed } from "./scenario.js"

const record = (i: number) => ({ n: i, payload: PAYLOAD, ts: nowMs() })

const produceOneByOne = (ctx: Ctx) =>
  Effect.gen(function*() {
    for (let i = 0; i < ctx.n; i++) yield* Streams.xaddMap(ctx.stream, "*", record(i))
    return ctx.n
  })

const produceAll = (ctx: Ctx, options: Streams.XaddAllOptions = {}) =>
  Effect.gen(function*() {
    const records = Array.from({ length: ctx.n }, (_, i) => record(i))
    const ids = yield* Streams.xaddAll(ctx.stream, records, options)
    // distinct ids: a record deduplicated by mistake would share its id and count once
    return new Set(ids).size
  })

/** Every record with a key of its own: each is written, none deduplicated, and each pays for its script. */
const dedupe: Streams.DedupeEach = { key: (record) => `r${record["n"]}`, ttl: "10 minutes" }

const measured = <E>(ctx: Ctx, effect: Effect.Effect<number, E, Redis.Redis>): Effect.Effect<Measured, unknown> =>
  timed(effect).pipe(Effect.map(([seconds, handled]) => ({ handled, seconds })), Effect.provide(Redis.layer(ctx.url)))

/** The write scenarios. */
export const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "produce/library-xaddMap",
    description: "Streams.xaddMap, one awaited call per entry",
    baseline: "produce/raw-pipelined",
    size: { full: 50_000, quick: 5_000 },
    setup: () => Effect.void,
    run: (ctx) => measured(ctx, produceOneByOne(ctx))
  },
  {
    name: "produce/library-xaddAll",
    description: "Streams.xaddAll, all entries in one call",
    baseline: "produce/raw-pipelined",
    size: { full: 100_000, quick: 10_000 },
    setup: () => Effect.void,
    run: (ctx) => measured(ctx, produceAll(ctx))
  },
  {
    name: "produce/library-delayed",
    description: "Streams.xaddAll with a delay: every record held in the delayed set, all in one call",
    baseline: "produce/raw-pipelined",
    size: { full: 100_000, quick: 10_000 },
    setup: () => Effect.void,
    run: (ctx) => measured(ctx, produceAll(ctx, { delay: "1 hour" }))
  },
  {
    name: "produce/library-dedupe",
    description: "Streams.xaddAll with a dedupe key per record, all entries in one call",
    baseline: "produce/raw-pipelined",
    size: { full: 100_000, quick: 10_000 },
    setup: () => Effect.void,
    run: (ctx) => measured(ctx, produceAll(ctx, { dedupe }))
  }
]
