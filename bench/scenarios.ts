/**
 * Where the scenarios live. A child process loads only its scenario's
 * module, so that BullMQ's code (or the OpenTelemetry SDK) is not in the
 * RSS of a library drain.
 */
import type { Scenario } from "./scenario.js"

/** Each module of scenarios, by key, loaded on demand. */
export const modules: Readonly<Record<string, () => Promise<{ readonly scenarios: ReadonlyArray<Scenario> }>>> = {
  raw: () => import("./raw.js"),
  consumer: () => import("./consumer.js"),
  traced: () => import("./traced.js"),
  live: () => import("./live.js"),
  streams: () => import("./streams.js"),
  gc: () => import("./gc.js"),
  dashboard: () => import("./dashboard.js"),
  bullmq: () => import("./bullmq.js")
}

/** Run order by name prefix; within a prefix, module order (the raw baselines first). */
const order = ["drain/", "live/", "produce/", "gc/", "claim/", "memory/", "dashboard/", "bullmq/"]

const rank = (scenario: Scenario) => order.findIndex((prefix) => scenario.name.startsWith(prefix))

/** A scenario and the key of the module it lives in. */
export interface Located {
  readonly module: string
  readonly scenario: Scenario
}

/** Every scenario, in run order: each baseline before the scenarios measured against it. */
export const all = async (): Promise<ReadonlyArray<Located>> => {
  const located: Array<Located> = []
  for (const [module, load] of Object.entries(modules)) {
    for (const scenario of (await load()).scenarios) located.push({ module, scenario })
  }
  return located.sort((a, b) => rank(a.scenario) - rank(b.scenario))
}
