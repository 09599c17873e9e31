/**
 * A test process that spawns a redis-server with `RedisTest.server`, prints
 * `<port> <pid>` and waits forever: for the test that SIGKILLs it and checks
 * that the server went with it.
 */
import { NodeContext } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { RedisTest } from "../../src/testing/index.js"

Effect.gen(function*() {
  const server = yield* RedisTest.server()
  const pid = yield* server.pid
  yield* Console.log(`${server.port} ${pid._tag === "Some" ? pid.value : 0}`)
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(NodeContext.layer), Effect.runPromise)
