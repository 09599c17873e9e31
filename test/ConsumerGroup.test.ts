/**
 * `Consumer.layerGroup`: the one-call production setup — the group created,
 * N consumers in a FiberSet and gc on a schedule — against a real server,
 * and released cleanly.
 */
import { expect, layer } from "@effect/vitest"
import { Cause, Effect, Layer, Logger, Ref, Schedule } from "effect"
import * as Consumer from "../src/Consumer.js"
import * as Groups from "../src/Groups.js"
import * as Naming from "../src/Naming.js"
import * as Redis from "../src/Redis.js"
import { RedisTest } from "../src/testing/index.js"
import { spawn } from "node:child_process"
import { age, read } from "./gcUtils.js"
import { addEntries, blockedClients, Deliveries, eventually, pendingCount } from "./utils.js"

const groupProcess = new URL("./support/groupProcess.ts", import.meta.url).pathname

const send = (command: string, args: ReadonlyArray<Redis.Arg>) => Effect.flatMap(Redis.Redis, (redis) => redis.send(command, args))

/** The names of the connections open on the server. */
const connectionNames = Effect.map(send("CLIENT", ["LIST"]), (list) =>
  String(list).split("\n").map((line) => /name=(\S*)/.exec(line)?.[1] ?? "").filter((name) => name !== ""))

layer(RedisTest.layer(), { excludeTestServices: true, timeout: "60 seconds" })("Consumer.layerGroup", (it) => {
  it.effect("creates the group, runs N consumers and gc, handles everything, and stops them all on release", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("group-layer")
      const group = Naming.groupName("group-layer")
      const handled = yield* Ref.make(new Map<string, string>())
      // a consumer that died holding two entries, before the layer starts
      yield* Groups.create(stream, group, { from: "0" })
      const orphans = yield* addEntries(stream, 2)
      yield* read(stream, group, "consumer/dead", 2)
      yield* age(stream, group, "consumer/dead", orphans, 60_000)
      const live = Consumer.layerGroup({
        stream,
        group,
        consumers: 3,
        block: "100 millis",
        create: { from: "0" },
        gc: { options: { rebalance: { idle: "30 seconds", siblings: "all" } }, schedule: Schedule.spaced("100 millis") },
        handler: (message) => Ref.update(handled, (all) => new Map(all).set(message.id, message.consumer))
      })
      const ids = yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(live)
        const ids = [...orphans, ...(yield* addEntries(stream, 30, 10))]
        yield* eventually(Effect.flatMap(Ref.get(handled), (all) => (all.size === ids.length ? Effect.void : Effect.fail(all.size))), "15 seconds")
        yield* eventually(Effect.flatMap(pendingCount(stream, group), (n) => (n === 0 ? Effect.void : Effect.fail(n))))
        const names = (yield* Groups.stats(stream, group)).consumers.map((c) => c.name)
        expect(names).toEqual(["consumer/dead", "consumer/group-layer/0", "consumer/group-layer/1", "consumer/group-layer/2"])
        expect((yield* connectionNames).filter((name) => name.startsWith("consumer/group-layer/")).sort()).toEqual([
          "consumer/group-layer/0",
          "consumer/group-layer/1",
          "consumer/group-layer/2"
        ])
        return ids
      }))
      const byConsumer = yield* Ref.get(handled)
      expect([...byConsumer.keys()].sort()).toEqual([...ids].sort())
      // the dead consumer's entries were handed over by gc and handled by a live one
      for (const id of orphans) expect(byConsumer.get(id)).toMatch(/^consumer\/group-layer\/\d$/)
      // released: every consumer's connection is closed
      yield* eventually(Effect.flatMap(connectionNames, (names) =>
        names.some((name) => name.startsWith("consumer/group-layer/")) ? Effect.fail(names) : Effect.void))
    }))

  it.effect("names consumers after `name`, and refuses a bad count before creating anything", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("group-layer-named")
      const group = Naming.groupName("group-layer-named")
      const error = yield* Effect.flip(Layer.build(Consumer.layerGroup({ stream, group, consumers: 0, handler: () => Effect.void })).pipe(Effect.scoped))
      expect(error).toMatchObject({ _tag: "RedisError", reason: "InvalidArgument" })
      expect(yield* send("EXISTS", [stream])).toBe(0)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Consumer.layerGroup({ stream, group, name: "consumer/billing/host-a", consumers: 2, gc: false, handler: () => Effect.void }))
        yield* eventually(Effect.flatMap(connectionNames, (names) =>
          names.filter((name) => name.startsWith("consumer/billing/host-a/")).length === 2 ? Effect.void : Effect.fail(names)))
      }))
    }))

  it.effect("a new group starts at the stream's start: entries written before the consumers ran are handled", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("group-layer-backlog")
      const group = Naming.groupName("group-layer-backlog")
      const written = yield* addEntries(stream, 100)
      const handled = new Deliveries<string>()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Consumer.layerGroup({ stream, group, consumers: 2, block: "100 millis", gc: false, handler: (message) => Effect.sync(() => handled.record(message.id)) }))
        yield* eventually(Effect.sync(() => expect(handled.size).toBe(100)))
      }))
      expect([...handled.counts.keys()].sort()).toEqual([...written].sort())
      expect(handled.twice).toEqual([])
      expect((yield* Groups.stats(stream, group)).unconsumed).toBe(0)
    }))

  it.effect("an unblocked layerGroup consumer is logged in one line, without a stack trace", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("group-layer-unblock")
      const group = Naming.groupName("group-layer-unblock")
      const errors: Array<string> = []
      const logger = Logger.make(({ cause, logLevel, message }) => {
        if (logLevel._tag === "Error") errors.push([...(Array.isArray(message) ? message : [message]), Cause.isEmpty(cause) ? "" : Cause.pretty(cause)].join(" "))
      })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Consumer.layerGroup({ stream, group, consumers: 2, block: "20 seconds", gc: false, exitWhenStopped: false, handler: () => Effect.void }).pipe(
          Layer.provide(Logger.replace(Logger.defaultLogger, logger))
        ))
        yield* eventually(Effect.filterOrFail(blockedClients, (n) => n === 2))
        expect(yield* Consumer.unblockGroup(stream, group)).toBe(2)
        yield* eventually(Effect.sync(() => expect(errors).toHaveLength(2)))
      }))
      for (const line of errors) {
        expect(line).toMatch(/^consumer consumer\/group-layer-unblock\/\d stopped: Unblocked: UNBLOCKED/)
        expect(line).not.toMatch(/\n\s+at /)
      }
    }))

  it.scoped("a process whose consumers have all stopped ends with exit code 1 (exitWhenStopped), for its supervisor", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("group-layer-exit")
      const group = Naming.groupName("group-layer-exit")
      const server = yield* RedisTest.RedisTest
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, ["--import", "tsx", groupProcess, server.url, stream, group], { stdio: ["ignore", "pipe", "pipe"] })),
        (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
      )
      let output = ""
      child.stdout.on("data", (chunk) => (output += String(chunk)))
      child.stderr.on("data", (chunk) => (output += String(chunk)))
      yield* eventually(Effect.filterOrFail(blockedClients, (n) => n === 2), "30 seconds")
      expect(yield* Consumer.unblockGroup(stream, group)).toBe(2)
      const code = yield* eventually(Effect.suspend(() => (child.exitCode === null ? Effect.fail("still running") : Effect.succeed(child.exitCode))), "30 seconds")
      expect(code).toBe(1)
      expect(output).toMatch(/every consumer of group\/group-layer-exit in this process has stopped/)
    }), 60_000)
})
