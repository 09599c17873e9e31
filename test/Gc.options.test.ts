import { expect, layer } from "@effect/vitest"
import { Effect, Random } from "effect"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Redis from "../src/Redis.js"
import type * as RedisError from "../src/RedisError.js"
import { RedisTest } from "../src/testing/index.js"
import { ack, age, consumers, createConsumer, idleLongerThan, names, pending, read, setup } from "./gcUtils.js"

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

/** Runs `effect` against a Redis service that runs `before` once, just before the first `command` goes out. */
const interpose = <A, E, R>(command: string, before: Effect.Effect<unknown, never, Redis.Redis>, effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Redis.Redis, (redis) => {
    let fired = false
    const service: Redis.Service = {
      ...redis,
      send: (c, args) =>
        c === command && !fired
          ? Effect.sync(() => (fired = true)).pipe(
            Effect.zipRight(Effect.provideService(before, Redis.Redis, redis)),
            Effect.zipRight(redis.send(c, args))
          )
          : redis.send(c, args)
    }
    return Effect.provideService(effect, Redis.Redis, service)
  })

layer(RedisTest.layer(), { excludeTestServices: true })("Gc.collect: thresholds and steps", (it) => {
  it.effect("a threshold absent from a given step is not compared; false turns a step off", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 2)
      yield* read(stream, group, consumer(0), 2)
      yield* read(stream, group, consumer(0), 1, "0") // ids[0] delivered twice
      yield* createConsumer(stream, group, consumer(1))
      yield* age(stream, group, consumer(0), ids, 3_600_000)
      // rebalance by deliveries only: the hour of idle time is not compared
      expect(yield* Gc.collect(stream, group, { rebalance: { deliveries: 2 }, dryRun: true })).toEqual([
        Gc.GcAction.Rebalance({ id: ids[0]!, consumer: consumer(0), claimant: consumer(1) }),
        Gc.GcAction.Noop({ id: ids[1]!, consumer: consumer(0) })
      ])
      // dead-letter by idle time only: the default 10 deliveries is not compared
      expect(yield* Gc.collect(stream, group, { rebalance: false, dlq: { idle: "2 hours", stream: dlq }, dryRun: true })).toEqual(
        ids.map((id) => Gc.GcAction.Noop({ id, consumer: consumer(0) }))
      )
      // the default rebalance (60 s idle) applies when the key is absent, and dlq: false never dead-letters
      expect(yield* Gc.collect(stream, group, { dlq: false, dryRun: true })).toEqual(
        ids.map((id) => Gc.GcAction.Rebalance({ id, consumer: consumer(0), claimant: consumer(1) }))
      )
      // rebalance: false leaves due entries alone
      expect(yield* Gc.collect(stream, group, { rebalance: false, dryRun: true })).toEqual(
        ids.map((id) => Gc.GcAction.Noop({ id, consumer: consumer(0) }))
      )
    }))

  it.effect("dlq: the default stream is stream/dlq with the message; includeMessage: false writes metadata only", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 2)
      yield* read(stream, group, consumer(0), 2)
      for (let i = 0; i < 9; i++) yield* read(stream, group, consumer(0), 1, "0") // ids[0] delivered 10 times
      expect(yield* Gc.collect(stream, group)).toEqual([
        Gc.GcAction.Dlq({ id: ids[0]!, consumer: consumer(0) }),
        Gc.GcAction.Noop({ id: ids[1]!, consumer: consumer(0) })
      ])
      const defaults = yield* Gc.deadLetters("stream/dlq", { stream })
      expect(defaults.map((l) => [l.id, l.deliveries, l.fields])).toEqual([[ids[0], 10, { n: "0" }]])
      yield* Gc.collect(stream, group, { dlq: { deliveries: 1, stream: dlq, includeMessage: false } })
      expect((yield* Gc.deadLetters(dlq)).map((l) => [l.id, l.fields])).toEqual([[ids[1], null]])
    }))

  it.effect("siblings and distribution choose the claimant, never the owner", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      const [owner, busy, idleOne] = [consumer(0), consumer(1), consumer(2)]
      const ids = yield* setup(stream, group, 3)
      yield* read(stream, group, busy, 1) // holds an entry and then goes quiet: looks dead to "active"
      yield* idleLongerThan(stream, group, busy, 100)
      yield* createConsumer(stream, group, idleOne)
      yield* read(stream, group, owner, 2)
      yield* age(stream, group, owner, ids.slice(1), 120_000)
      const claimants = (options: Gc.RebalanceOptions) =>
        Effect.map(
          Gc.collect(stream, group, { rebalance: { idle: "100 millis", ...options }, dryRun: true }),
          (actions) => actions.flatMap((a) => a._tag === "Rebalance" && a.consumer === owner ? [a.claimant] : [])
        )
      expect(yield* claimants({ siblings: "all", distribution: "lra" })).toEqual([busy, busy])
      expect(yield* claimants({ siblings: "all", distribution: "mra" })).toEqual([idleOne, idleOne])
      expect(yield* claimants({ siblings: "active", distribution: "lra" })).toEqual([idleOne, idleOne])
      expect(yield* claimants({ distribution: "lra" })).toEqual([idleOne, idleOne]) // "active" is the default
      const random = yield* Effect.withRandom(claimants({ siblings: "all" }), Random.make("seed"))
      expect(random.every((c) => c === busy || c === idleOne)).toBe(true)
    }))

  it.effect("random distribution spreads entries over the siblings", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      const ids = yield* setup(stream, group, 40)
      yield* read(stream, group, consumer(0), 40)
      yield* createConsumer(stream, group, consumer(1))
      yield* createConsumer(stream, group, consumer(2))
      yield* age(stream, group, consumer(0), ids, 120_000)
      const actions = yield* Effect.withRandom(Gc.collect(stream, group), Random.make(42))
      const byClaimant = new Map<string, number>()
      for (const a of actions) if (a._tag === "Rebalance") byClaimant.set(a.claimant, (byClaimant.get(a.claimant) ?? 0) + 1)
      expect([...byClaimant.keys()].sort()).toEqual([consumer(1), consumer(2)])
      expect(byClaimant.get(consumer(1))! + byClaimant.get(consumer(2))!).toBe(40)
      const owners = (yield* consumers(stream, group)).map((c) => [c.name, c.pending])
      expect(owners).toEqual([[consumer(0), 0], [consumer(1), byClaimant.get(consumer(1))], [consumer(2), byClaimant.get(consumer(2))]])
    }))

  it.effect("pages through a pending list longer than batchSize", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 25)
      yield* read(stream, group, consumer(0), 25)
      yield* createConsumer(stream, group, consumer(1))
      yield* age(stream, group, consumer(0), ids.slice(0, 10), 120_000)
      const actions = yield* Gc.collect(stream, group, { batchSize: 4, dlq: { deliveries: 1, idle: "1 hour", stream: dlq } })
      expect(actions.map((a) => a._tag)).toEqual(ids.map(() => "Dlq"))
      expect((yield* Gc.deadLetters(dlq)).map((l) => l.id)).toEqual(ids)
      expect(yield* pending(stream, group)).toEqual([])
    }))
})

layer(RedisTest.layer(), { excludeTestServices: true })("Gc.collect: dryRun and races", (it) => {
  it.effect("dryRun returns the actions a pass would take and changes nothing", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 3)
      yield* read(stream, group, consumer(0), 3)
      yield* read(stream, group, consumer(0), 1, "0")
      yield* createConsumer(stream, group, consumer(1))
      yield* age(stream, group, consumer(0), ids.slice(1, 2), 120_000)
      const options: Gc.CollectOptions = { dlq: { deliveries: 2, stream: dlq }, deregister: { idle: 0 } }
      const before = yield* pending(stream, group)
      const planned = yield* Gc.collect(stream, group, { ...options, dryRun: true })
      expect(planned).toEqual([
        Gc.GcAction.Dlq({ id: ids[0]!, consumer: consumer(0) }),
        Gc.GcAction.Rebalance({ id: ids[1]!, consumer: consumer(0), claimant: consumer(1) }),
        Gc.GcAction.Noop({ id: ids[2]!, consumer: consumer(0) })
      ])
      expect((yield* pending(stream, group)).map((p) => [p.id, p.consumer, p.deliveries])).toEqual(
        before.map((p) => [p.id, p.consumer, p.deliveries])
      )
      expect(yield* send("EXISTS", [dlq])).toBe(0)
      expect((yield* consumers(stream, group)).length).toBe(2)
      // the real pass does what was planned
      expect(yield* Gc.collect(stream, group, options)).toEqual(planned)
    }))

  it.effect("an entry acked between XPENDING and XCLAIM is neither claimed nor dead-lettered", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 4)
      yield* read(stream, group, consumer(0), 4)
      yield* read(stream, group, consumer(0), 2, "0")
      yield* createConsumer(stream, group, consumer(1))
      yield* age(stream, group, consumer(0), ids, 120_000)
      const options: Gc.CollectOptions = { dlq: { deliveries: 2, stream: dlq } }
      // ids[0], ids[1]: due for the DLQ; ids[2], ids[3]: due for rebalancing.
      // The owner acks ids[0] and ids[2] after XPENDING saw them.
      const actions = yield* interpose("EVAL", ack(stream, group, [ids[0]!, ids[2]!]).pipe(Effect.orDie), Gc.collect(stream, group, options))
      expect(actions).toEqual([
        Gc.GcAction.Noop({ id: ids[0]!, consumer: consumer(0) }),
        Gc.GcAction.Dlq({ id: ids[1]!, consumer: consumer(0) }),
        Gc.GcAction.Noop({ id: ids[2]!, consumer: consumer(0) }),
        Gc.GcAction.Rebalance({ id: ids[3]!, consumer: consumer(0), claimant: consumer(1) })
      ])
      expect((yield* Gc.deadLetters(dlq)).map((l) => l.id)).toEqual([ids[1]])
      expect((yield* pending(stream, group)).map((p) => [p.id, p.consumer])).toEqual([[ids[3], consumer(1)]])
    }))

  it.effect("an entry read again or claimed by someone else meanwhile is left to them", () =>
    Effect.gen(function*() {
      const { consumer, dlq, group, stream } = names()
      const ids = yield* setup(stream, group, 3)
      yield* read(stream, group, consumer(0), 3)
      yield* createConsumer(stream, group, consumer(1))
      yield* createConsumer(stream, group, consumer(2))
      yield* age(stream, group, consumer(0), ids, 120_000)
      const meanwhile = Effect.all([
        send("XCLAIM", [stream, group, consumer(2), 0, ids[0]!, "JUSTID"]), // another gc claimed it
        read(stream, group, consumer(0), 1, "0") // the owner retried ids[0]... now owned by consumer(2): it reads ids[1]
      ]).pipe(Effect.orDie)
      const actions = yield* interpose(
        "XCLAIM",
        meanwhile,
        Gc.collect(stream, group, { rebalance: { idle: "1 minute", distribution: "mra", siblings: "all" }, dlq: { deliveries: 2, stream: dlq } })
      )
      expect(actions.map((a) => a._tag)).toEqual(["Noop", "Noop", "Rebalance"])
      const owners = (yield* pending(stream, group)).map((p) => [p.id, p.consumer])
      expect(owners).toEqual([[ids[0], consumer(2)], [ids[1], consumer(0)], [ids[2], (actions[2] as { claimant: string }).claimant]])
      expect(yield* Gc.deadLetters(dlq)).toEqual([])
    }))
})

layer(RedisTest.layer(), { excludeTestServices: true })("Gc.collect: bad input", (it) => {
  it.effect("refuses bad options with InvalidArgument before touching Redis", () =>
    Effect.gen(function*() {
      const { group, stream } = names()
      yield* setup(stream, group, 0)
      const refused: ReadonlyArray<Effect.Effect<unknown, RedisError.RedisError, Redis.Redis>> = [
        Gc.collect("has space", group),
        Gc.collect(stream, ""),
        Gc.collect(stream, group, { batchSize: 0 }),
        Gc.collect(stream, group, { dlq: { deliveries: -1 } }),
        Gc.collect(stream, group, { rebalance: { deliveries: 1.5 } }),
        Gc.collect(stream, group, { rebalance: { idle: "soon" as never } }),
        // NaN (a misparsed environment variable) is not zero: it would hand over every pending entry at once
        Gc.collect(stream, group, { rebalance: { idle: NaN } }),
        Gc.collect(stream, group, { dlq: { idle: Number("ten") } }),
        Groups.deregisterIdle(stream, group, NaN),
        Gc.collect(stream, group, { dlq: { stream: "" } }),
        Gc.deadLetters(""),
        Gc.redrive("stream/dlq", { count: -1 })
      ]
      const reasons = yield* Effect.forEach(refused, (effect) => Effect.map(Effect.flip(effect), (e) => [e.reason, e.message.length > 0]))
      expect(reasons).toEqual(reasons.map(() => ["InvalidArgument", true]))
    }))

  it.effect("a missing group or stream, or a dead-letter key that is no stream, is a typed error and loses nothing", () =>
    Effect.gen(function*() {
      const { consumer, group, stream } = names()
      expect((yield* Effect.flip(Gc.collect(stream, group))).reason).toBe("NoSuchKey")
      const ids = yield* setup(stream, group, 1)
      expect((yield* Effect.flip(Gc.collect(stream, "group/none"))).reason).toBe("NoGroup")
      yield* read(stream, group, consumer(0), 1)
      yield* send("SET", ["not-a-stream", "x"])
      const error = yield* Effect.flip(Gc.collect(stream, group, { dlq: { deliveries: 1, stream: "not-a-stream" } }))
      expect(error.reason).toBe("WrongType")
      expect((yield* pending(stream, group)).map((p) => p.id)).toEqual(ids)
    }))

  it.effect("on a cluster, a dead-letter stream in another slot is refused with CrossSlot before anything moves", () =>
    Effect.gen(function*() {
      const { consumer, group } = names()
      const stream = `{orders}:${group}`
      const ids = yield* setup(stream, group, 1)
      yield* read(stream, group, consumer(0), 1)
      const asCluster = <A, E>(effect: Effect.Effect<A, E, Redis.Redis>) =>
        Effect.flatMap(Redis.Redis, (redis) => Effect.provideService(effect, Redis.Redis, { ...redis, isCluster: true }))
      const error = yield* Effect.flip(asCluster(Gc.collect(stream, group, { dlq: { deliveries: 1, stream: "stream/dlq" } })))
      expect(error.reason).toBe("CrossSlot")
      expect(error.message).toContain("hash tag")
      expect((yield* pending(stream, group)).map((p) => p.id)).toEqual(ids)
      const actions = yield* asCluster(Gc.collect(stream, group, { dlq: { deliveries: 1, stream: "{orders}:dlq" } }))
      expect(actions.map((a) => a._tag)).toEqual(["Dlq"])
    }))
})
