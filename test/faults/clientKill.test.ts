import { expect, layer } from "@effect/vitest"
import { Effect, Ref } from "effect"
import * as replies from "../../src/internal/redis/replies.js"
import * as Redis from "../../src/Redis.js"
import { RedisTest } from "../../src/testing/index.js"
import { addEntries, eventually } from "../utils.js"
import { freshGroup, recording, report, settled, startConsumers, startGc, stopWithin, Tally } from "./utils.js"

const kills = 5

/** The id of the open connection named `name` (waiting, bounded, until it is connected again). */
const connectionId = (name: string) =>
  eventually(
    Effect.flatMap(Redis.Redis, (redis) => redis.send("CLIENT", ["LIST"])).pipe(
      Effect.flatMap(replies.clientList),
      Effect.flatMap((clients) => {
        const found = clients.find((client) => client.name === name)
        return found === undefined ? Effect.fail(`no connection named ${name}`) : Effect.succeed(found.id)
      })
    )
  )

/** CLIENT KILL ID from a connection of its own, so the shared one can be killed too. */
const kill = (id: string) =>
  Effect.scoped(
    Effect.flatMap(Effect.flatMap(Redis.Redis, (redis) => redis.dedicated("killer")), (killer) =>
      killer.send("CLIENT", ["KILL", "ID", id]))
  )

/**
 * Two consumers (with a heartbeat, which uses the shared connection) and gc
 * run over 300 entries written beforehand; `victim` names the connection to
 * kill, `kills` times, each time once it is connected again, while the
 * entries are being handled.
 */
const underKills = (name: string, victim: (consumer: string) => Effect.Effect<string, unknown, Redis.Redis>) =>
  Effect.gen(function*() {
    const { dlq, group, stream } = yield* freshGroup
    const written = yield* addEntries(stream, 300)
    const tally = new Tally()
    const fibers = yield* startConsumers(2, {
      stream,
      group,
      heartbeat: "50 millis",
      handler: recording(tally, () => Effect.sleep("5 millis"))
    })
    const gc = yield* startGc(stream, group, { rebalance: { idle: "10 seconds" }, dlq: { deliveries: 10, stream: dlq } }, "100 millis")
    for (let i = 0; i < kills; i++) {
      yield* eventually(Effect.sync(() => expect(tally.handled).toBeGreaterThan(i * 40)))
      expect(yield* kill(yield* victim(`consumer/${stream}/0`))).toBe(1)
    }
    const counts = yield* settled({ stream, group, dlq, tally, written })
    yield* stopWithin(fibers)
    yield* report(name, counts)
    expect(counts.deadLettered).toBe(0)
    // gc survived the kills and goes on
    const passes = (yield* Ref.get(gc)).passes
    yield* eventually(Effect.map(Ref.get(gc), (now) => expect(now.passes).toBeGreaterThan(passes)))
  })

layer(RedisTest.layer(), { excludeTestServices: true })("fault: connection killed server-side (CLIENT KILL)", (it) => {
  it.scoped("a consumer's dedicated connection, 5 times mid-run: it reconnects, nothing lost, none pending", () =>
    underKills("CLIENT KILL of a consumer's connection x5", connectionId), 60_000)

  it.scoped("the shared connection (gc, heartbeats), 5 times mid-run: nothing lost, none pending", () =>
    underKills("CLIENT KILL of the shared connection x5", () =>
      Effect.flatMap(Redis.Redis, (redis) => Effect.map(redis.send("CLIENT", ["ID"]), String))), 60_000)
})
