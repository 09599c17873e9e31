/**
 * The default drain under an OpenTelemetry SDK that records every span: a
 * module of its own, so that the SDK is loaded only in this scenario's child
 * process (not in the RSS of the other drains).
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { drain } from "./consumer.js"
import { backlogDrain } from "./raw.js"
import type { Scenario } from "./scenario.js"

/**
 * OpenTelemetry with an exporter that drops what it gets: every span is made
 * and ended as under a real backend, none is sent anywhere.
 */
const Exporting = NodeSdk.layer(() => ({
  resource: { serviceName: "bench" },
  spanProcessor: new SimpleSpanProcessor({
    export: (_spans, done) => done({ code: 0 }), // ExportResultCode.SUCCESS
    shutdown: () => Promise.resolve()
  })
}))

/** The traced drain. */
export const scenarios: ReadonlyArray<Scenario> = [
  backlogDrain(
    "drain/library-traced",
    "Consumer.run with default options under an exporting OpenTelemetry tracer (a span per entry)",
    (ctx) => Effect.provide(drain(ctx, {}), Exporting)
  )
]
