import { expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Consumer from "../../src/Consumer.js"
import * as Redis from "../../src/Redis.js"
import type { RedisError } from "../../src/RedisError.js"
import { RedisTest } from "../../src/testing/index.js"
import { addEntries, connectionNames, eventually } from "../utils.js"
import { freshGroup, recording, report, settled, Tally } from "./utils.js"

/**
 * A consumer handles 50 entries, then `remove` deletes its group or stream
 * under it: the control sees a typed `ReadFailed`, the default control exits,
 * the run fails with that error within a bounded time, and its connection is
 * released.
 */
const underRemoval = (name: string, remove: (stream: string, group: string) => Effect.Effect<unknown, RedisError, Redis.Redis>) =>
  Effect.gen(function*() {
    const { group, stream } = yield* freshGroup
    const written = yield* addEntries(stream, 50)
    const tally = new Tally()
    const failures: Array<RedisError> = []
    const consumer = `consumer/${stream}/0`
    const fiber = yield* Effect.fork(Consumer.run({
      stream,
      group,
      consumer,
      block: 1_000,
      handler: recording(tally),
      control: (event) => {
        if (event._tag === "ReadFailed") failures.push(event.error)
        return Consumer.defaultControl(event)
      }
    }))
    const counts = yield* settled({ stream, group, tally, written })
    yield* remove(stream, group)
    const error = yield* Fiber.join(fiber).pipe(
      Effect.flip,
      Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the consumer did not exit") }),
      Effect.orDie
    )
    expect(error).toMatchObject({ _tag: "RedisError", reason: "NoGroup" })
    expect(failures.map((failure) => failure.reason)).toEqual(["NoGroup"])
    expect(failures[0]).toBe(error)
    yield* eventually(Effect.map(connectionNames, (open) => expect(open).not.toContain(consumer)))
    yield* report(name, counts)
  })

layer(RedisTest.layer(), { excludeTestServices: true })("fault: the group or the stream deleted under a running consumer", (it) => {
  it.effect("XGROUP DESTROY: ReadFailed (NoGroup) reaches the control, the default exits, the run fails with it", () =>
    underRemoval("XGROUP DESTROY under a consumer", (stream, group) =>
      Effect.flatMap(Redis.Redis, (redis) => redis.send("XGROUP", ["DESTROY", stream, group]))), 30_000)

  it.effect("DEL of the stream: ReadFailed (NoGroup) reaches the control, the default exits, the run fails with it", () =>
    underRemoval("DEL of the stream under a consumer", (stream) =>
      Effect.flatMap(Redis.Redis, (redis) => redis.send("DEL", [stream]))), 30_000)
})
