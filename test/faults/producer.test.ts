/**
 * A producer under connection kills: the shared connection is killed
 * server-side (CLIENT KILL) while writes are in flight. ioredis re-sends a
 * command whose reply was lost once it has reconnected, so an entry with
 * an id of `*` may be written twice (docs/guarantees.md, "What can duplicate"),
 * and none is lost without the caller knowing (a write ioredis aborted fails
 * with `Connection`); with explicit ids the re-sent XADD is refused by the
 * server and every record is there exactly once, as it is with dedupe keys
 * (the re-sent write finds its key). Counted per record.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Redis from "../../src/Redis.js"
import * as Streams from "../../src/Streams.js"
import { RedisTest } from "../../src/testing/index.js"
import { eventually } from "../utils.js"

const killShared = Effect.scoped(Effect.gen(function*() {
  const redis = yield* Redis.Redis
  const id = yield* eventually(redis.send("CLIENT", ["ID"]))
  const killer = yield* redis.dedicated("killer")
  return yield* killer.send("CLIENT", ["KILL", "ID", String(id)])
}))

/**
 * Runs `writes` (each ending with its outcome) `concurrency` at a time in a
 * fiber, killing the shared connection after every `every` writes done, 10
 * times at most; returns the outcomes once every write has ended.
 */
const writtenUnderKills = <E>(
  writes: ReadonlyArray<Effect.Effect<unknown, E, Redis.Redis>>,
  concurrency: number,
  every: number
) =>
  Effect.gen(function*() {
    const outcomes: Array<Either.Either<unknown, E>> = []
    const fiber = yield* Effect.fork(Effect.forEach(writes, (write) => Effect.map(Effect.either(write), (outcome) => outcomes.push(outcome)), {
      concurrency,
      discard: true
    }))
    for (let kills = 0; kills < 10 && outcomes.length < writes.length - every; kills++) {
      const at = outcomes.length + every
      yield* eventually(Effect.sync(() => expect(outcomes.length).toBeGreaterThanOrEqual(at)))
      yield* killShared
    }
    yield* fiber.await
    return outcomes.flatMap((outcome) => (Either.isLeft(outcome) ? [outcome.left] : []))
  })

/** How many times each record (field `k`) is in the stream, and those there more than once. */
const copiesOf = (stream: string) =>
  Effect.map(Streams.read(stream, { count: 100_000 }), (entries) => {
    const copies = new Map<string, number>()
    for (const entry of entries) {
      const k = entry.fields!["k"]!
      copies.set(k, (copies.get(k) ?? 0) + 1)
    }
    return { copies, twice: [...copies].filter(([, n]) => n > 1) }
  })

layer(RedisTest.layer(), { excludeTestServices: true })("fault: the producer's connection killed mid-write", (it) => {
  it.effect("20 000 records in batches (ids *), the shared connection killed 10 times: none lost, a re-sent one at most twice", () =>
    Effect.gen(function*() {
      const stream = "stream/producer-kills"
      const batches = 200
      const size = 100
      const failures = yield* writtenUnderKills(
        Array.from({ length: batches }, (_, b) =>
          Streams.xaddAll(stream, Array.from({ length: size }, (_, i) => ({ k: `${b}:${i}` }))).pipe(
            Effect.mapError((error) => ({ batch: b, error }))
          )),
        8,
        15
      )
      const { copies, twice } = yield* copiesOf(stream)
      console.log(`[fault] producer kills (ids *): written ${copies.size} of ${batches * size} records, ${failures.length} batches failed with Connection, ${twice.length} twice (allowed: re-sent by ioredis)`)
      // a batch whose reply was lost fails with Connection (the caller may send it again); every other batch is all there
      expect(failures.map(({ error }) => error.reason)).toEqual(failures.map(() => "Connection"))
      const failed = new Set(failures.map(({ batch }) => batch))
      for (let b = 0; b < batches; b++) {
        if (failed.has(b)) continue
        for (let i = 0; i < size; i++) expect(copies.get(`${b}:${i}`), `${b}:${i}`).toBeGreaterThanOrEqual(1)
      }
      // a duplicate is a re-sent write: at most twice
      expect(twice.every(([, n]) => n === 2)).toBe(true)
    }), 60_000)

  it.effect("dedupe keys under the same kills (ids *): every record exactly once, none lost", () =>
    Effect.gen(function*() {
      const stream = "stream/producer-kills-dedupe"
      const batches = 200
      const size = 100
      const failures = yield* writtenUnderKills(
        Array.from({ length: batches }, (_, b) =>
          Streams.xaddAll(stream, Array.from({ length: size }, (_, i) => ({ k: `${b}:${i}` })), {
            dedupe: { key: (record) => String(record["k"]), ttl: "10 minutes" }
          })),
        8,
        15
      )
      const { copies, twice } = yield* copiesOf(stream)
      console.log(`[fault] producer kills (dedupe): written ${copies.size} of ${batches * size} records, ${failures.length} batches failed, ${twice.length} twice`)
      expect(failures).toEqual([])
      expect(copies.size).toBe(batches * size)
      // a write ioredis re-sent after a kill found its key: no record twice
      expect(twice).toEqual([])
    }), 60_000)

  it.effect("explicit ids under the same kills: every record exactly once", () =>
    Effect.gen(function*() {
      const stream = "stream/producer-kills-ids"
      const records = 4_000
      const failures = yield* writtenUnderKills(Array.from({ length: records }, (_, i) => Streams.xaddMap(stream, `${i + 1}-1`, { k: i })), 1, 300)
      // the re-sent XADD of an id already written is refused; another failure is a write whose reply was lost
      const refused = failures.filter((error) => error.reason === "InvalidArgument").length
      const lost = failures.length - refused
      const entries = yield* Streams.read(stream, { count: 100_000 })
      const ks = entries.map((entry) => Number(entry.fields!["k"]))
      console.log(`[fault] producer kills (explicit ids): ${entries.length} of ${records} records, ${refused} re-sends refused, ${lost} failed`)
      expect(new Set(ks).size).toBe(ks.length)
      expect(entries.length).toBe(records - lost)
    }), 60_000)
})
