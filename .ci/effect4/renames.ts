/**
 * The rename table of the Effect 4 edition: each entry is a name whose
 * Effect 4 form takes the same arguments and means the same, checked
 * against effect 4.1.5's declarations. Anything that changed more than its
 * name (`Context.Tag`, `Either`, `Schedule` internals, `Metric` internals,
 * the CLI) is not here: its module has a hand-written `.effect4.ts` form
 * (docs/editions.md). Adding a rename: add it here, and a case to
 * test/effect4-codemod.test.ts if it is of a new kind.
 */
import type { Renames } from "./codemod.js"

export const renames: Renames = {
  modules: {},
  barrels: {
    "@effect/platform/HttpApp": ["effect/http", "HttpEffect"],
    "@effect/platform/HttpRouter": ["effect/http", "HttpRouter"],
    "@effect/platform/HttpServer": ["effect/http", "HttpServer"],
    "@effect/platform/HttpServerError": ["effect/http", "HttpServerError"],
    "@effect/platform/HttpServerRequest": ["effect/http", "HttpServerRequest"],
    "@effect/platform/HttpServerResponse": ["effect/http", "HttpServerResponse"],
    "@effect/platform/HttpTraceContext": ["effect/http", "HttpTraceContext"],
    "@effect/platform/Headers": ["effect/http", "Headers"]
  },
  members: {
    Effect: {
      zipRight: "andThen",
      catchAll: "catch",
      catchAllCause: "catchCause",
      async: "callback",
      fork: "forkChild",
      forkDaemon: "forkDetach",
      tapErrorCause: "tapCause"
    },
    Layer: {
      scoped: "effect",
      scopedDiscard: "effectDiscard",
      unwrapEffect: "unwrap",
      unwrapScoped: "unwrap"
    },
    Cause: {
      failureOption: "findErrorOption",
      isInterruptedOnly: "hasInterruptsOnly",
      isDie: "hasDies",
      isInterrupted: "hasInterrupts"
    },
    Duration: {
      DurationInput: "Input"
    },
    Option: {
      fromNullable: "fromNullishOr"
    }
  }
}
