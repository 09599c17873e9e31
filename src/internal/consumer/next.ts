/**
 * The consumer's choice of its next read, as a pure transition: from the
 * read that just came back, what it brought, the retry and self-claim due
 * times and the time now, to the next read and whether it may run while
 * the batch is handled (read ahead) or only after it.
 *
 * The invariant it keeps (unit-tested in `test/ConsumerNext.test.ts` over
 * every combination): a read that can return an entry of the batch being
 * handled never runs while that batch is handled. The batch is delivered and
 * not acked yet, so such a read (the backlog from a cursor before one of its
 * ids, a self-claim step) would hand it to the handler a second time. Reads
 * of new entries (`>`) and the next page of the backlog go ahead.
 */
import * as MessageId from "../../MessageId.js"
import type { Batch, Read } from "./reads.js"

/** What the choice depends on; nothing else is read. */
export interface Situation {
  /** The streams read, highest priority first. */
  readonly streams: ReadonlyArray<string>
  /** The read that just came back, and what it brought (the batch about to be handled). */
  readonly read: Read
  readonly batch: Batch
  /** The earliest time (epoch ms) an own pending entry's backoff ends, if one is known to wait. */
  readonly retryAt: number | undefined
  /** With self-claim: whether the last step stopped part-way (at its count), and when the next may run (epoch ms). */
  readonly claim: { readonly unfinished: boolean; readonly nextAt: number } | undefined
  readonly now: number
}

/** The next read; `ahead`: it may run while the batch is handled. */
export interface Next {
  readonly read: Read
  readonly ahead: boolean
}

const blocking: Read = { _tag: "New", block: true }
const readAhead: Read = { _tag: "New", block: false }

/** A backlog read from the start of every stream. */
export const fromStart = (streams: number): Read => ({ _tag: "Backlog", from: Array.from({ length: streams }, () => "0-0") })

/**
 * Whether `read` can return an entry of `batch`: a self-claim step can
 * claim any pending entry (this consumer's too); a backlog read returns own
 * pending entries after its cursor; new entries were never delivered.
 */
export const reaches = (streams: ReadonlyArray<string>, read: Read, batch: Batch): boolean => {
  if (batch.messages.length === 0 || read._tag === "New") return false
  if (read._tag === "Claim") return true
  // each stream's entries come in id order: its last one is its highest
  const last = new Map<string, string>()
  for (const message of batch.messages) last.set(message.stream, message.id)
  for (const [stream, id] of last) {
    const i = streams.indexOf(stream)
    if (i < 0 || MessageId.compare(id, read.from[i] ?? "0-0") > 0) return true
  }
  return false
}

const claimDue = (situation: Situation) =>
  situation.claim !== undefined && (situation.claim.unfinished || situation.now >= situation.claim.nextAt)

/** The read that follows `situation.read`, by the rules of `loop.ts`. */
const choose = (situation: Situation): Read => {
  const { batch, read } = situation
  if (read._tag === "Claim") return fromStart(situation.streams.length)
  if (batch.next === undefined) {
    // after the backlog, new entries by priority first: a blocking read takes every stream's at once
    if (read._tag === "Backlog") return readAhead
    // with nothing new, a self-claim step when one is due (an unfinished one goes on at once)
    if (claimDue(situation)) return { _tag: "Claim" }
    return read.block ? fromStart(situation.streams.length) : blocking
  }
  if (read._tag === "Backlog") return { _tag: "Backlog", from: batch.next }
  // a backoff that has ended: the backlog next, after this batch
  return situation.retryAt !== undefined && situation.retryAt <= situation.now ? fromStart(situation.streams.length) : readAhead
}

/** The next read, and whether it may run while `situation.batch` is handled. */
export const next = (situation: Situation): Next => {
  const read = choose(situation)
  return { read, ahead: !reaches(situation.streams, read, situation.batch) }
}
