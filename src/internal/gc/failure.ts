/**
 * How a handler's failure is written down, the same way everywhere it
 * appears: in the consumer's log lines, in the last-error hash the gc reads,
 * and in a dead letter. Below both the consumer and the gc, which import it.
 */
import { Predicate } from "effect"

/**
 * A handler's failure as it is: a string as itself, an `Error` as its name
 * and message, a tagged error as its tag and message, anything else as
 * JSON (not as Effect renders a failure in a cause: `Error: <value>`).
 */
export const describeFailure = (failure: unknown): string => {
  if (typeof failure === "string") return failure
  if (Predicate.hasProperty(failure, "_tag") && typeof failure._tag === "string") {
    const message = Predicate.hasProperty(failure, "message") && typeof failure.message === "string" ? failure.message : ""
    const fields = ownFields(failure)
    return `${failure._tag}${message === "" ? "" : `: ${message}`}${fields === undefined ? "" : ` ${fields}`}`
  }
  if (failure instanceof Error) return `${failure.name}: ${failure.message}`
  try {
    return JSON.stringify(failure) ?? String(failure)
  } catch {
    return String(failure)
  }
}

/** A failure's own fields: not a tagged error's tag and message, nor an `Error`'s stack and cause; `undefined` when it has none. */
export const ownFieldsOf = (failure: object): Readonly<Record<string, unknown>> | undefined => {
  const own = Object.entries(failure).filter(([key]) => key !== "_tag" && key !== "message" && key !== "stack" && key !== "cause")
  return own.length === 0 ? undefined : Object.fromEntries(own)
}

/** A tagged error's own fields as JSON, at most 500 characters; `undefined` when it has none. */
const ownFields = (failure: object): string | undefined => {
  const own = ownFieldsOf(failure)
  if (own === undefined) return undefined
  try {
    const json = JSON.stringify(own)
    return json.length > 500 ? `${json.slice(0, 500)}…` : json
  } catch {
    return undefined
  }
}
