/**
 * The dashboard's refresh over 100 streams × 3 groups × 10 consumers: the
 * library's (one SCAN and one pipeline of `XINFO STREAM … FULL COUNT 1` per
 * master) against the loop a person would write by hand with ioredis (SCAN,
 * then XINFO STREAM, XINFO GROUPS and, per group, XINFO CONSUMERS, each
 * awaited). `n` counts streams read: n / 100 refreshes (entries/s is
 * streams/s); the extra figures are the milliseconds per refresh and the
 * commands each sends (from INFO commandstats).
 */
import { Effect } from "effect"
import type { Redis as IORedis } from "ioredis"
import * as Data from "../src/internal/dashboard/data.js"
import * as Redis from "../src/Redis.js"
import { withClient } from "./raw.js"
import type { Ctx, Scenario } from "./scenario.js"
import { promise, timed } from "./scenario.js"

const STREAMS = 100
const GROUPS = 3
const CONSUMERS = 10
const PATTERN = "stream/dashboard-*"

const streamKey = (i: number) => `stream/dashboard-${i}`

/** 100 streams of 20 entries, each with 3 groups of 10 consumers holding one pending entry each. */
const setup = (ctx: Ctx) =>
  withClient(ctx.url, (client) =>
    promise("seed streams", async () => {
      for (let i = 0; i < STREAMS; i++) {
        const batch = client.pipeline()
        for (let e = 0; e < 20; e++) batch.call("XADD", streamKey(i), "*", "n", e)
        for (let g = 0; g < GROUPS; g++) {
          batch.call("XGROUP", "CREATE", streamKey(i), `group/${g}`, "0")
          for (let c = 0; c < CONSUMERS; c++) {
            batch.call("XREADGROUP", "GROUP", `group/${g}`, `consumer/${g}/${c}`, "COUNT", 1, "STREAMS", streamKey(i), ">")
          }
        }
        await batch.exec()
      }
    }))

/** Commands the server has run so far (INFO commandstats), to count those of the timed refreshes. */
const commandCount = (client: IORedis) =>
  client.info("commandstats").then((text) =>
    [...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].filter(([, name]) => name !== "info").reduce((sum, [, , calls]) => sum + Number(calls), 0)
  )

/**
 * Runs `refresh` (which returns the streams it read) n / 100 times; handled
 * is `n` when every refresh read every stream.
 */
const refreshes = <R>(ctx: Ctx, refresh: Effect.Effect<number, unknown, R>) =>
  withClient(ctx.url, (client) =>
    Effect.gen(function*() {
      const times = Math.max(1, Math.round(ctx.n / STREAMS))
      const before = yield* Effect.promise(() => commandCount(client))
      const [seconds, read] = yield* timed(Effect.reduce(Array.from({ length: times }), 0, (sum) => Effect.map(refresh, (n) => sum + n)))
      const after = yield* Effect.promise(() => commandCount(client))
      return {
        handled: read === times * STREAMS ? ctx.n : read,
        seconds,
        extra: { ms_per_refresh: Math.round((seconds * 1000 * 100) / times) / 100, commands_per_refresh: Math.round((after - before) / times) }
      }
    }))

/** The library's refresh: streams read and recorded into the sparkline history. */
const library = (ctx: Ctx) =>
  Effect.gen(function*() {
    const history = new Data.History(300, 60_000)
    const refresh = Effect.map(Data.readStreams(PATTERN), (reads) => history.record(reads, Date.now()).streams.length)
    return yield* refreshes(ctx, refresh)
  }).pipe(Effect.provide(Redis.layer(ctx.url)))

/** The hand-written refresh: every XINFO awaited in turn. */
const byHand = async (client: IORedis): Promise<number> => {
  let cursor = "0"
  const keys: Array<string> = []
  do {
    const [next, page] = (await client.call("SCAN", cursor, "MATCH", PATTERN, "COUNT", 1000, "TYPE", "stream")) as [string, Array<string>]
    keys.push(...page)
    cursor = next
  } while (cursor !== "0")
  let consumers = 0
  for (const key of keys) {
    await client.call("XINFO", "STREAM", key)
    const groups = (await client.call("XINFO", "GROUPS", key)) as Array<Array<unknown>>
    for (const group of groups) {
      const list = (await client.call("XINFO", "CONSUMERS", key, String(group[1]))) as Array<unknown>
      consumers += list.length
    }
  }
  if (consumers !== STREAMS * GROUPS * CONSUMERS) throw new Error(`saw ${consumers} consumers`)
  return keys.length
}

const size = { full: 5_000, quick: 500 }

/** The dashboard scenarios. */
export const scenarios: ReadonlyArray<Scenario> = [
  {
    name: "dashboard/raw-awaited",
    description: "hand-written ioredis: SCAN, then XINFO STREAM, GROUPS and CONSUMERS per group, each awaited",
    baseline: undefined,
    size,
    setup,
    run: (ctx) => withClient(ctx.url, (client) => refreshes(ctx, promise("refresh by hand", () => byHand(client))))
  },
  {
    name: "dashboard/library-refresh",
    description: "Dashboard's refresh: one SCAN and one pipeline of XINFO STREAM … FULL per master",
    baseline: "dashboard/raw-awaited",
    size,
    setup,
    run: library
  }
]
