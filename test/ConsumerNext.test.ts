/**
 * The consumer's choice of its next read (`internal/consumer/next.ts`), a pure
 * transition, over every combination of the read that came back, what it
 * brought, the retry due time and self-claim: the rules of the loop, and
 * the invariant that no read which can return an entry of the batch in hand
 * runs while it is handled.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Batch, Read } from "../src/internal/consumer/reads.js"
import * as Next from "../src/internal/consumer/next.js"
import type { StreamMessage } from "../src/internal/consumer/data.js"

const streams = ["high", "low"]
const now = 1_000_000

const message = (stream: string, id: string): StreamMessage => ({ stream, group: "g", consumer: "c", id, fields: {} })

const empty: Batch = { messages: [], trimmed: [], claimed: [], deadLettered: [], next: undefined }
const batches: Record<string, Batch> = {
  empty,
  trimmedOnly: { ...empty, trimmed: [{ stream: "high", id: "5-0", acked: false }], next: ["5-0", "0-0"] },
  newEntries: { ...empty, messages: [message("high", "10-0"), message("high", "11-0")], next: [] },
  backlogPage: { ...empty, messages: [message("high", "3-0"), message("low", "4-0")], next: ["3-0", "4-0"] },
  claimed: { ...empty, claimed: [{ stream: "low", ids: ["2-0"] }] }
}
const reads: Record<string, Read> = {
  blocking: { _tag: "New", block: true },
  readAhead: { _tag: "New", block: false },
  backlogStart: Next.fromStart(2),
  backlogPage: { _tag: "Backlog", from: ["1-0", "1-0"] },
  claim: { _tag: "Claim" }
}
const retries = { none: undefined, due: now - 1, waiting: now + 1_000 }
const claims = {
  off: undefined,
  due: { unfinished: false, nextAt: now - 1 },
  unfinished: { unfinished: true, nextAt: now + 1_000 },
  notDue: { unfinished: false, nextAt: now + 1_000 }
}

/** What a read could return of the batch, computed without the module: ids as numbers, per stream. */
const couldReturn = (read: Read, batch: Batch): ReadonlyArray<StreamMessage> => {
  if (read._tag === "New") return []
  if (read._tag === "Claim") return batch.messages
  return batch.messages.filter((m) => Number(m.id.split("-")[0]) > Number(read.from[streams.indexOf(m.stream)]!.split("-")[0]))
}

/** The read/batch pairs the loop can see: a read's batch has the shape its kind brings. */
const possible = (read: string, batch: string) =>
  batch === "empty" || (read === "claim" ? batch === "claimed" : batch !== "claimed") &&
      (read === "blocking" || read === "readAhead" ? batch === "newEntries" : batch !== "newEntries")

describe("Consumer's next read", () => {
  const cases = Object.entries(reads).flatMap(([readName, read]) =>
    Object.entries(batches).filter(([batchName]) => possible(readName, batchName)).flatMap(([batchName, batch]) =>
      Object.entries(retries).flatMap(([retryName, retryAt]) =>
        Object.entries(claims).map(([claimName, claim]) => ({ readName, read, batchName, batch, retryName, retryAt, claimName, claim }))
      )
    )
  )

  it("covers every possible combination", () => {
    // read/batch pairs: 2 per read of new entries, 3 per backlog read, 2 for a self-claim step
    expect(cases.length).toBe((2 + 2 + 3 + 3 + 2) * 3 * 4)
  })

  it.each(cases)("$readName brought $batchName (retry $retryName, claim $claimName): never reads the batch in hand ahead", (c) => {
    const next = Next.next({ streams, read: c.read, batch: c.batch, retryAt: c.retryAt, claim: c.claim, now })
    if (next.ahead) expect(couldReturn(next.read, c.batch)).toEqual([])
    // a read that cannot return the batch is never held back
    else expect(couldReturn(next.read, c.batch).length).toBeGreaterThan(0)
  })

  it.each(cases)("$readName brought $batchName (retry $retryName, claim $claimName): the loop's rules", (c) => {
    const { read } = Next.next({ streams, read: c.read, batch: c.batch, retryAt: c.retryAt, claim: c.claim, now })
    const claimDue = c.claimName === "due" || c.claimName === "unfinished"
    const expected: Read = c.read._tag === "Claim"
      ? Next.fromStart(2)
      : c.batch.next === undefined
      ? c.read._tag === "Backlog"
        ? reads.readAhead!
        : claimDue
        ? reads.claim!
        : c.read.block
        ? Next.fromStart(2)
        : reads.blocking!
      : c.read._tag === "Backlog"
      ? { _tag: "Backlog", from: c.batch.next }
      : c.retryName === "due"
      ? Next.fromStart(2)
      : reads.readAhead!
    expect(read).toEqual(expected)
  })

  it("a backoff due while new entries are handled: the backlog from the start, after the batch", () => {
    const next = Next.next({ streams, read: reads.readAhead!, batch: batches.newEntries!, retryAt: now - 1, claim: undefined, now })
    expect(next).toEqual({ read: Next.fromStart(2), ahead: false })
  })

  it("the next backlog page goes ahead: it starts after every id of the page in hand", () => {
    const next = Next.next({ streams, read: reads.backlogPage!, batch: batches.backlogPage!, retryAt: undefined, claim: undefined, now })
    expect(next).toEqual({ read: { _tag: "Backlog", from: ["3-0", "4-0"] }, ahead: true })
  })

  it("reaches: a backlog cursor before an id of the batch reaches it, a stream the reads do not know too", () => {
    const batch = batches.backlogPage!
    expect(Next.reaches(streams, { _tag: "Backlog", from: ["3-0", "3-0"] }, batch)).toBe(true)
    expect(Next.reaches(streams, { _tag: "Backlog", from: ["3-0", "4-0"] }, batch)).toBe(false)
    expect(Next.reaches(["high"], { _tag: "Backlog", from: ["9-0"] }, batch)).toBe(true)
    expect(Next.reaches(streams, { _tag: "Claim" }, batch)).toBe(true)
    expect(Next.reaches(streams, { _tag: "Claim" }, empty)).toBe(false)
  })
})
