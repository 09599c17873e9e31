/**
 * The hand-written ioredis loops the library is measured against, and the
 * untimed setup steps (seeding a backlog) every scenario shares. Plain
 * async/await on purpose: this is the code a user would write by hand.
 */
import { Effect } from "effect"
import { Redis as IORedis } from "ioredis"
import type { Ctx, Measured, Scenario } from "./scenario.js"
import { BenchError, nowMs, PAYLOAD, promise, timed } from "./scenario.js"

/** A plain ioredis client for the duration of the effect. */
export const withClient = <A, E, R>(url: string, use: (client: IORedis) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    promise("connect", async () => {
      const client = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: null })
      await client.connect()
      return client
    }),
    use,
    (client) => Effect.promise(() => client.quit().catch(() => "OK"))
  )

const SEED = `
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  redis.call('XADD', KEYS[1], '*', 'n', i, 'payload', ARGV[3], 'ts', ARGV[4])
end
return 1`

/** Appends `n` three-field entries server-side (a Lua loop: fast, and no client memory). */
export const seed = (client: IORedis, stream: string, n: number): Promise<void> =>
  (async () => {
    for (let from = 0; from < n; from += 10_000) {
      await client.call("EVAL", SEED, 1, stream, from, Math.min(from + 10_000, n) - 1, PAYLOAD, 0)
    }
  })()

/** Seeds a backlog of `n` entries and a group that has not read any of them. */
export const seedBacklog = (ctx: Ctx): Effect.Effect<void, BenchError> =>
  withClient(ctx.url, (client) =>
    promise("seed backlog", async () => {
      await seed(client, ctx.stream, ctx.n)
      await client.call("XGROUP", "CREATE", ctx.stream, ctx.group, "0")
    }))

/** The consumer holding the gc scenarios' pending entries, and its idle sibling. */
export const OWNER = "consumer/bench/owner"
export const SIBLING = "consumer/bench/sibling"

/**
 * Seeds `n` entries all pending to {@link OWNER} (delivered, never acked),
 * and a {@link SIBLING} holding none: what a gc pass finds
 * after a consumer died holding its backlog.
 */
export const seedPending = (ctx: Ctx): Effect.Effect<void, BenchError> =>
  Effect.zipRight(
    seedBacklog(ctx),
    withClient(ctx.url, (client) =>
      promise("deliver backlog", async () => {
        for (let delivered = 0; delivered < ctx.n; delivered += 10_000) {
          await client.call("XREADGROUP", "GROUP", ctx.group, OWNER, "COUNT", 10_000, "STREAMS", ctx.stream, ">")
        }
        await client.call("XGROUP", "CREATECONSUMER", ctx.stream, ctx.group, SIBLING)
      }))
  )

/** Creates an empty stream with a group reading new entries only. */
export const emptyGroup = (ctx: Ctx): Effect.Effect<void, BenchError> =>
  withClient(ctx.url, (client) => promise("create group", () => client.call("XGROUP", "CREATE", ctx.stream, ctx.group, "$", "MKSTREAM")))

/** The trivial handler of every drain: look at a field, do nothing. */
let sink = 0
export const handle = (fields: Record<string, string>): void => {
  sink += fields["n"]?.length ?? 0
}

/**
 * Walks an XREADGROUP reply (`[[stream, [[id, [k, v, …]], …]]]`), hands each
 * entry's fields to `handle`, and returns the ids.
 */
const readEntries = (reply: unknown): Array<string> => {
  const ids: Array<string> = []
  if (!Array.isArray(reply)) return ids
  for (const stream of reply) {
    if (!Array.isArray(stream) || !Array.isArray(stream[1])) continue
    for (const entry of stream[1]) {
      if (!Array.isArray(entry) || typeof entry[0] !== "string" || !Array.isArray(entry[1])) continue
      const fields: Record<string, string> = {}
      const kvs: Array<unknown> = entry[1]
      for (let i = 0; i + 1 < kvs.length; i += 2) fields[String(kvs[i])] = String(kvs[i + 1])
      handle(fields)
      ids.push(entry[0])
    }
  }
  return ids
}

/** XREADGROUP COUNT `count` then one XACK for the batch, until `n` entries are handled. */
const drainLoop = async (client: IORedis, ctx: Ctx, count: number, ackEach: boolean): Promise<number> => {
  let handled = 0
  while (handled < ctx.n) {
    const reply = await client.call("XREADGROUP", "GROUP", ctx.group, "raw", "COUNT", count, "STREAMS", ctx.stream, ">")
    const ids = readEntries(reply)
    if (ids.length === 0) throw new Error(`the backlog ended after ${handled} of ${ctx.n} entries`)
    if (ackEach) for (const id of ids) await client.call("XACK", ctx.stream, ctx.group, id)
    else await client.call("XACK", ctx.stream, ctx.group, ...ids)
    handled += ids.length
  }
  return handled
}

/**
 * XREADGROUP COUNT 1000, and from the second batch on the XACK of the
 * previous batch written in one pipeline with the next read: the best loop a
 * user can write without reading ahead.
 */
const pipelinedDrainLoop = async (client: IORedis, ctx: Ctx): Promise<number> => {
  const read = ["GROUP", ctx.group, "raw", "COUNT", 1000, "STREAMS", ctx.stream, ">"] as const
  let handled = 0
  let ids: Array<string> = []
  while (handled < ctx.n) {
    let reply: unknown
    if (ids.length === 0) reply = await client.call("XREADGROUP", ...read)
    else {
      const results = await client.pipeline().call("XACK", ctx.stream, ctx.group, ...ids).call("XREADGROUP", ...read).exec()
      const failed = results?.find(([error]) => error !== null)
      if (results === null || failed !== undefined) throw new Error(`XACK + XREADGROUP failed: ${String(failed?.[0])}`)
      reply = results[1]![1]
    }
    ids = readEntries(reply)
    if (ids.length === 0) throw new Error(`the backlog ended after ${handled} of ${ctx.n} entries`)
    handled += ids.length
  }
  await client.call("XACK", ctx.stream, ctx.group, ...ids)
  return handled
}

/** The server's own limit: one script looping XREADGROUP COUNT 1000 + XACK inside Redis, no client work at all. */
const SERVER_DRAIN = `
local handled = 0
local n = tonumber(ARGV[1])
while handled < n do
  local reply = redis.call('XREADGROUP', 'GROUP', ARGV[2], 'limit', 'COUNT', 1000, 'STREAMS', KEYS[1], '>')
  if not reply then break end
  local ids = {}
  for i, entry in ipairs(reply[1][2]) do ids[i] = entry[1] end
  if #ids == 0 then break end
  redis.call('XACK', KEYS[1], ARGV[2], unpack(ids))
  handled = handled + #ids
end
return handled`

const measure = (ctx: Ctx, loop: (client: IORedis) => Promise<number>): Effect.Effect<Measured, BenchError> =>
  withClient(ctx.url, (client) => timed(promise("raw loop", () => loop(client)))).pipe(
    Effect.map(([seconds, handled]) => ({ handled, seconds }))
  )

/** A bench entry's XADD arguments; `ts` is when it was sent, for latency. */
const xaddArgs = (stream: string, i: number): Array<string | number> => [stream, "*", "n", i, "payload", PAYLOAD, "ts", nowMs()]

/**
 * `n` XADDs, `batch` per pipeline, one pipeline at a time; with `rate`
 * (entries/s), each pipeline waits for its turn on that schedule.
 */
export const pipelinedXadd = async (client: IORedis, stream: string, n: number, batch: number, rate = 0): Promise<number> => {
  const start = performance.now()
  let written = 0
  while (written < n) {
    const due = rate > 0 ? start + (written / rate) * 1000 - performance.now() : 0
    if (due > 0) await new Promise((resolve) => setTimeout(resolve, due))
    const pipeline = client.pipeline()
    const end = Math.min(written + batch, n)
    for (let i = written; i < end; i++) pipeline.call("XADD", ...xaddArgs(stream, i))
    const results = await pipeline.exec()
    const failed = results?.find(([error]) => error !== null)
    if (results === null || failed) throw new Error(`XADD failed: ${String(failed?.[0])}`)
    written = end
  }
  return written
}

const produceBaseline = "produce/raw-pipelined"
const drainSize = { full: 100_000, quick: 10_000 }

/** The scenario every drain is measured against as the server's limit. */
export const serverLimit = "drain/server-limit"

/** A scenario draining a seeded backlog, measured against the raw batch loop and the server's limit. */
export const backlogDrain = (
  name: string,
  description: string,
  run: Scenario["run"],
  more: Partial<Pick<Scenario, "size" | "execArgv" | "setup">> = {}
): Scenario => ({ name, description, baseline: "drain/raw-batch", limit: serverLimit, size: drainSize, setup: seedBacklog, run, ...more })

/** The raw baselines. */
export const scenarios: ReadonlyArray<Scenario> = [
  backlogDrain(
    "drain/raw-batch",
    "hand-written ioredis: XREADGROUP COUNT 100, one XACK per batch",
    (ctx) => measure(ctx, (client) => drainLoop(client, ctx, 100, false))
  ),
  backlogDrain(
    "drain/raw-batch-1000",
    "the same with COUNT 1000, the tuned library's batch size",
    (ctx) => measure(ctx, (client) => drainLoop(client, ctx, 1000, false))
  ),
  backlogDrain(
    "drain/raw-pipelined-1000",
    "hand-written ioredis: COUNT 1000, each batch's XACK in one write with the next read",
    (ctx) => measure(ctx, (client) => pipelinedDrainLoop(client, ctx))
  ),
  backlogDrain(
    serverLimit,
    "inside Redis: one Lua script looping XREADGROUP COUNT 1000 + XACK (no client)",
    (ctx) => measure(ctx, async (client) => Number(await client.call("EVAL", SERVER_DRAIN, 1, ctx.stream, ctx.n, ctx.group)))
  ),
  backlogDrain(
    "drain/raw-count1",
    "the seed's loop shape: XREADGROUP COUNT 1, XACK each",
    (ctx) => measure(ctx, (client) => drainLoop(client, ctx, 1, true))
  ),
  {
    name: "produce/raw-pipelined",
    description: "hand-written ioredis: XADD pipelined 1000 at a time",
    baseline: produceBaseline,
    size: drainSize,
    setup: () => Effect.void,
    run: (ctx) => measure(ctx, (client) => pipelinedXadd(client, ctx.stream, ctx.n, 1000))
  },
  {
    name: "produce/raw-awaited",
    description: "hand-written ioredis: one awaited XADD each",
    baseline: produceBaseline,
    size: { full: 50_000, quick: 5_000 },
    setup: () => Effect.void,
    run: (ctx) =>
      measure(ctx, async (client) => {
        for (let i = 0; i < ctx.n; i++) await client.call("XADD", ...xaddArgs(ctx.stream, i))
        return ctx.n
      })
  }
]
