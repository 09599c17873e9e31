import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Gc from "../../src/Gc.js"
import * as replies from "../../src/internal/replies.js"
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

layer(RedisTest.layer(), { excludeTestServices: true })("fault: a consumer process killed with SIGKILL", (it) => {
  it.scoped("mid-batch: Gc.collect hands its pending entries to the live consumers, nothing lost, none pending", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const { dlq, group, stream } = yield* freshGroup
      const victim = `consumer/${stream}/child`
      const handledList = `handled/${stream}`
      const written = yield* addEntries(stream, 200)
      const child = yield* spawnChild([server.url, stream, group, victim, "50", handledList])
      // the child is part-way through a batch: it handled some, and holds entries it has not
      yield* eventually(
        Effect.gen(function*() {
          expect(Number(yield* send("LLEN", [handledList]))).toBeGreaterThan(3)
          expect(yield* pendingCount(stream, group, victim)).toBeGreaterThan(0)
        }),
        "20 seconds"
      )
      child.kill("SIGKILL")
      yield* eventually(Effect.sync(() => expect(child.signalCode).toBe("SIGKILL")))
      const orphaned = yield* pendingCount(stream, group, victim)
      expect(orphaned).toBeGreaterThan(0)
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
      for (const id of yield* Effect.flatMap(send("LRANGE", [handledList, 0, -1]), (reply) => replies.ids("LRANGE", reply))) {
        tally.record(id)
      }
      const counts = yield* settled({ stream, group, dlq, tally, written })
      expect(counts.deadLettered).toBe(0)
      yield* stopWithin(fibers)
      yield* report(`SIGKILL of a consumer process (${orphaned} entries orphaned)`, counts)
    }), 60_000)

  it.scoped("mid-batch: a sibling's self-claim alone recovers its pending entries (no gc), nothing lost, none pending", () =>
    Effect.gen(function*() {
      const server = yield* RedisTest.RedisTest
      const { dlq, group, stream } = yield* freshGroup
      const victim = `consumer/${stream}/child`
      const handledList = `handled/${stream}`
      const written = yield* addEntries(stream, 200)
      const child = yield* spawnChild([server.url, stream, group, victim, "50", handledList])
      yield* eventually(
        Effect.gen(function*() {
          expect(Number(yield* send("LLEN", [handledList]))).toBeGreaterThan(3)
          expect(yield* pendingCount(stream, group, victim)).toBeGreaterThan(0)
        }),
        "20 seconds"
      )
      child.kill("SIGKILL")
      yield* eventually(Effect.sync(() => expect(child.signalCode).toBe("SIGKILL")))
      const orphaned = yield* pendingCount(stream, group, victim)
      expect(orphaned).toBeGreaterThan(0)
      const tally = new Tally()
      // the siblings claim entries idle for 500 ms themselves; no Gc.collect runs
      const fibers = yield* startConsumers(2, { stream, group, handler: recording(tally), claim: { idle: "500 millis", every: "200 millis" } })
      yield* eventually(Effect.flatMap(pendingCount(stream, group, victim), (n) => (n === 0 ? Effect.void : Effect.fail(n))), "20 seconds")
      for (const id of yield* Effect.flatMap(send("LRANGE", [handledList, 0, -1]), (reply) => replies.ids("LRANGE", reply))) {
        tally.record(id)
      }
      const counts = yield* settled({ stream, group, dlq, tally, written })
      expect(counts.deadLettered).toBe(0)
      yield* stopWithin(fibers)
      yield* report(`SIGKILL of a consumer process, recovered by self-claim (${orphaned} entries orphaned)`, counts)
    }), 60_000)
})
