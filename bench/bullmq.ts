/**
 * The usual alternative: a BullMQ 6.7 worker draining a queue of jobs with
 * the same payload, at concurrency 50 and 1. Jobs are removed on completion
 * (so Redis does not grow); the processor does nothing.
 */
import { Queue, Worker } from "bullmq"
import { Deferred, Effect, Exit } from "effect"
import type { Ctx, Scenario } from "./scenario.js"
import { nowMs, PAYLOAD, promise, timed } from "./scenario.js"

const connection = (url: string) => {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: Number(parsed.port), maxRetriesPerRequest: null }
}

/** The queue is named after the scenario's stream, so each scenario has a fresh one. */
const queueName = (ctx: Ctx) => ctx.stream.replace(/[^a-zA-Z0-9-]/g, "-")

const addJobs = (ctx: Ctx) =>
  promise("BullMQ addBulk", async () => {
    const queue = new Queue(queueName(ctx), { connection: connection(ctx.url) })
    try {
      for (let from = 0; from < ctx.n; from += 1000) {
        const jobs = []
        for (let i = from; i < Math.min(from + 1000, ctx.n); i++) {
          jobs.push({ name: "job", data: { n: i, payload: PAYLOAD, ts: nowMs() }, opts: { removeOnComplete: true, removeOnFail: true } })
        }
        await queue.addBulk(jobs)
      }
    } finally {
      await queue.close()
    }
  })

const work = (ctx: Ctx, concurrency: number) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    let handled = 0
    const [seconds, worker] = yield* timed(Effect.gen(function*() {
      const worker = new Worker(queueName(ctx), async () => undefined, { connection: connection(ctx.url), concurrency })
      worker.on("completed", () => {
        if (++handled === ctx.n) Deferred.unsafeDone(done, Exit.void)
      })
      yield* Deferred.await(done)
      return worker
    }))
    yield* promise("BullMQ close", () => worker.close())
    return { handled, seconds }
  })

const scenario = (concurrency: number): Scenario => ({
  name: `bullmq/concurrency-${concurrency}`,
  description: `BullMQ 6.7 worker, concurrency ${concurrency}, no-op processor`,
  baseline: "drain/raw-batch",
  size: { full: 100_000, quick: 5_000 },
  setup: addJobs,
  run: (ctx) => work(ctx, concurrency)
})

/** BullMQ at concurrency 50 and 1. */
export const scenarios: ReadonlyArray<Scenario> = [scenario(50), scenario(1)]
