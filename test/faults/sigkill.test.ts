import { expect, layer } from "@effect/vitest"
import type { Fiber } from "effect"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Gc from "../../src/Gc.js"
import * as replies from "../../src/internal/redis/replies.js"
import * as Redis from "../../src/Redis.js"
import { RedisTest } from "../../src/testing/index.js"
import { addEntries, eventually, pendingCount } from "../utils.js"
import { freshGroup, recording, report, settled, startConsumers, stopWithin, Tally } from "./utils.js"

const childScript = new URL("./child-consumer.ts", import.meta.url).pathname

/** Spawns the child consumer; SIGKILLs it when the scope closes if it still runs. */
const spawnChild = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => spawn(process.execPath, ["--import", "tsx", childScript, ...args], { stdio: ["ignore", "ignore", "inherit"] })),
    (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

/**
 * A child consumer process SIGKILLed part-way through a batch: it handled
 * some entries (listed in `handledList`) and left others pending.
 */
const killedMidBatch = Effect.gen(function*() {
  const server = yield* RedisTest.RedisTest
  const names = yield* freshGroup
  const victim = `consumer/${names.stream}/child`
  const handledList = `handled/${names.stream}`
  const written = yield* addEntries(names.stream, 200)
  const child = yield* spawnChild([server.url, names.stream, names.group, victim, "50", handledList])
  yield* eventually(
    Effect.gen(function*() {
      expect(Number(yield* send("LLEN", [handledList]))).toBeGreaterThan(3)
      expect(yield* pendingCount(names.stream, names.group, victim)).toBeGreaterThan(0)
    }),
    "20 seconds"
  )
  child.kill("SIGKILL")
  yield* eventually(Effect.sync(() => expect(child.signalCode).toBe("SIGKILL")))
  const orphaned = yield* pendingCount(names.stream, names.group, victim)
  expect(orphaned).toBeGreaterThan(0)
  return { ...names, victim, handledList, written, orphaned }
})

/** Counts what the killed process handled, checks nothing is lost or pending, stops the live consumers and reports. */
const settle = (
  killed: Effect.Effect.Success<typeof killedMidBatch>,
  tally: Tally,
  fibers: ReadonlyArray<Fiber.Fiber<unknown, unknown>>,
  what: string
) =>
  Effect.gen(function*() {
    for (const id of yield* Effect.flatMap(send("LRANGE", [killed.handledList, 0, -1]), (reply) => replies.ids("LRANGE", reply))) {
      tally.record(id)
    }
    const counts = yield* settled({ ...killed, tally })
    expect(counts.deadLettered).toBe(0)
    yield* stopWithin(fibers)
    yield* report(`${what} (${killed.orphaned} entries orphaned)`, counts)
  })

layer(RedisTest.layer(), { excludeTestServices: true })("fault: a consumer process killed with SIGKILL", (it) => {
  it.scoped("mid-batch: Gc.collect hands its pending entries to the live consumers, nothing lost, none pending", () =>
    Effect.gen(function*() {
      const killed = yield* killedMidBatch
      const { dlq, group, stream, victim } = killed
      const tally = new Tally()
      const fibers = yield* startConsumers(2, { stream, group, handler: recording(tally) })
      // gc passes until the dead consumer's entries have been handed over
      const rebalanced = yield* eventually(
        Effect.gen(function*() {
          const actions = yield* Gc.collect(stream, group, { rebalance: { idle: "500 millis" }, dlq: { deliveries: 10, stream: dlq } })
          expect(yield* pendingCount(stream, group, victim)).toBe(0)
          return actions.filter((action) => action._tag === "Rebalance" && action.consumer === victim).length
        }),
        "20 seconds"
      )
      expect(rebalanced).toBeGreaterThan(0)
      yield* settle(killed, tally, fibers, "SIGKILL of a consumer process")
    }), 60_000)

  it.scoped("mid-batch: a sibling's self-claim alone recovers its pending entries (no gc), nothing lost, none pending", () =>
    Effect.gen(function*() {
      const killed = yield* killedMidBatch
      const { group, stream, victim } = killed
      const tally = new Tally()
      // the siblings claim entries idle for 500 ms themselves; no Gc.collect runs
      const fibers = yield* startConsumers(2, { stream, group, handler: recording(tally), claim: { idle: "500 millis", every: "200 millis" } })
      yield* eventually(Effect.flatMap(pendingCount(stream, group, victim), (n) => (n === 0 ? Effect.void : Effect.fail(n))), "20 seconds")
      yield* settle(killed, tally, fibers, "SIGKILL of a consumer process, recovered by self-claim")
    }), 60_000)
})
