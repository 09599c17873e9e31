/**
 * The dashboard's probes, for Kubernetes and load balancers: `/healthz`
 * (Redis answers PING on every master within the timeout) and `/readyz`
 * (that, and every consumer running in this process has read lately, by
 * `Consumer.readiness`). Their bodies hold counts only, no key or consumer
 * name: the probes need no token.
 */
import { Effect } from "effect"
import * as Redis from "../../Redis.js"
import * as Health from "../consumer/health.js"

/** A probe's answer: its HTTP status and body. */
export interface Probe {
  readonly status: 200 | 503
  readonly body: Readonly<Record<string, string | number | boolean>>
}

/** Whether every master answers PING within `timeout` ms; never fails. */
export const redisAnswers = (timeout: number): Effect.Effect<boolean, never, Redis.Redis> =>
  Effect.gen(function*() {
    const redis = yield* Redis.Redis
    const masters = yield* redis.masters
    yield* Effect.forEach(masters, (master) => master.send("PING", []), { concurrency: "unbounded", discard: true })
    return true
  }).pipe(
    Effect.timeout(timeout),
    Effect.orElseSucceed(() => false)
  )

/** `/healthz`: 200 when Redis answers in time, 503 otherwise. */
export const healthz = (timeout: number): Effect.Effect<Probe, never, Redis.Redis> =>
  Effect.map(redisAnswers(timeout), (redis) => ({ status: redis ? 200 : 503, body: { status: redis ? "ok" : "unavailable", redis } }))

/** `/readyz`: 200 when Redis answers in time and every consumer of this process read within `maxAge` ms. */
export const readyz = (timeout: number, maxAge: number): Effect.Effect<Probe, never, Redis.Redis> =>
  Effect.map(redisAnswers(timeout), (redis) => {
    const readiness = Health.readiness(maxAge)
    const ready = redis && readiness.ready
    return {
      status: ready ? 200 : 503,
      body: { status: ready ? "ready" : "unready", redis, consumers: readiness.consumers, unready: readiness.unready.length }
    }
  })
