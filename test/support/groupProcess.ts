/**
 * A `Consumer.layerGroup` of two consumers as a program of its own, run with
 * `NodeRuntime.runMain` as an application runs it, for the test that
 * unblocks its consumers and checks that the process ends (exit code 1):
 *
 *   node --import tsx test/support/groupProcess.ts <url> <stream> <group>
 *
 * Prints `ready` once its consumers are blocked on their reads.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Consumer from "../../src/Consumer.js"
import * as Redis from "../../src/Redis.js"

const [url, stream, group] = process.argv.slice(2)
if (group === undefined) throw new Error("usage: groupProcess.ts <url> <stream> <group>")

const Group = Consumer.layerGroup({ stream: stream!, group, consumers: 2, block: "20 seconds", gc: false, handler: () => Effect.void })

Console.log("ready").pipe(Effect.zipRight(Effect.never), Effect.provide(Group), Effect.provide(Redis.layer(url!)), NodeRuntime.runMain)
