/**
 * Graceful shutdown through scopes: three consumers share a group in a
 * `FiberSet`; when the scope closes they stop — a blocked read ends at once,
 * a running handler finishes and is acked — and their connections close.
 *
 *   npx tsx shutdown.ts                            # in your app: spawns a redis-server for the run
 *   REDIS_URL=redis://localhost:6379 npx tsx shutdown.ts   # uses your server
 *   npm run example examples/shutdown.ts           # in this repository (the package name resolves to src/)
 *
 * In a service, put the `FiberSet` in a layer (`Layer.scopedDiscard`) and run
 * the program with `NodeRuntime.runMain`: SIGINT/SIGTERM then close the scope.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, FiberSet, Ref } from "effect"
import { pathToFileURL } from "node:url"
import { Consumer, Groups, Naming, Streams } from "effect-redis-streams"
import { RedisTest } from "effect-redis-streams/testing"

/** The program: needs a `Redis.Redis` in its context. */
export const main = Effect.gen(function*() {
  const stream = Naming.streamName("example-jobs")
  const group = Naming.groupName("example-workers")
  yield* Groups.create(stream, group)
  const handled = yield* Ref.make(0)
  const allHandled = yield* Effect.makeLatch(false)
  const jobs = 30

  yield* Effect.scoped(Effect.gen(function*() {
    const workers = yield* FiberSet.make()
    for (const i of [0, 1, 2]) {
      yield* FiberSet.run(
        workers,
        Consumer.run({
          stream,
          group,
          consumer: Naming.consumerName("example-workers", i),
          block: "20 seconds", // shutdown does not wait for it
          count: 5,
          handler: () =>
            Effect.sleep("2 millis").pipe(
              Effect.zipRight(Ref.updateAndGet(handled, (n) => n + 1)),
              Effect.tap((n) => (n === jobs ? allHandled.open : Effect.void))
            )
        })
      )
    }
    yield* Streams.xaddAll(stream, Array.from({ length: jobs }, (_, job) => ({ job })))
    yield* allHandled.await
    yield* Effect.log("all jobs handled; closing the scope stops the workers")
  }))

  const stats = yield* Groups.stats(stream, group)
  // nothing is left blocked: the workers' connections are closed
  const stillBlocked = yield* Consumer.unblock(Naming.consumerName("example-workers"))
  yield* Effect.log(`handled ${yield* Ref.get(handled)}, ${stats.pending} pending, ${stillBlocked} still blocked`)
  return { handled: yield* Ref.get(handled), pending: stats.pending, stillBlocked }
})

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main.pipe(Effect.provide(RedisTest.layer())))
}
