/**
 * The end-of-run report: one Markdown table and the targets.
 */
import type { Row } from "./runner.js"

const number = (value: number) => value.toLocaleString("en-US")

const notes = (row: Row) =>
  Object.entries(row.extra).map(([key, value]) => `${key} ${number(value)}`).join(", ")

/** The rows as a Markdown table (pasted as is into docs/performance.md). */
export const table = (rows: ReadonlyArray<Row>): string =>
  [
    "| scenario | n | seconds | entries/s | × raw | × limit | B/entry | peak RSS MB (at start) | notes |",
    "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ...rows.map((row) =>
      `| ${row.name} | ${number(row.n)} | ${row.seconds.toFixed(2)} | ${number(row.per_s)} | ${
        row.ratio_to_raw?.toFixed(2) ?? "–"
      } | ${row.ratio_to_limit?.toFixed(2) ?? "–"} | ${number(row.bytes_per_entry)} | ${row.peak_rss_mb.toFixed(0)} (${
        row.start_rss_mb.toFixed(0)
      }) | ${notes(row)} |`
    )
  ].join("\n")

/** The targets, each with its figure from this run (only those whose scenarios ran). */
export const targets = (rows: ReadonlyArray<Row>): ReadonlyArray<string> => {
  const get = (name: string) => rows.find((row) => row.name === name)
  const lines: Array<string> = []
  const check = (what: string, ok: boolean, figure: string) => lines.push(`${ok ? "met    " : "NOT met"}  ${what}: ${figure}`)
  const tuned = get("drain/library-tuned")
  const byDefault = get("drain/library-default")
  const bullmq = get("bullmq/concurrency-50")
  const xaddAll = get("produce/library-xaddAll")
  const rebalance = get("gc/library-rebalance")
  const dlq = get("gc/library-dlq")
  const rawBatch = get("drain/raw-batch")
  const pipelined = get("drain/raw-pipelined-1000")
  const batch = get("drain/library-batch")
  const limit = get("drain/server-limit")
  const against = (row: Row | undefined, base: Row | undefined, at: number, what: string) => {
    if (row && base) check(`${row.name} ≥ ${at} × ${what}`, row.per_s / base.per_s >= at, `${(row.per_s / base.per_s).toFixed(2)} ×`)
  }
  against(byDefault, rawBatch, 1.0, "raw batch loop (COUNT 100)")
  against(tuned, pipelined, 1.0, "raw pipelined loop (COUNT 1000)")
  against(batch, pipelined, 1.3, "raw pipelined loop (COUNT 1000)")
  against(batch, limit, 0.6, "the server's limit")
  if (byDefault && rawBatch) {
    const own = byDefault.bytes_per_entry - rawBatch.bytes_per_entry
    check("the library's own allocations at the default options ≤ 400 B/entry", own <= 400, `${own} B/entry (${byDefault.bytes_per_entry} − the raw loop's ${rawBatch.bytes_per_entry})`)
  }
  if (tuned && bullmq) {
    const ratio = tuned.per_s / bullmq.per_s
    check("tuned drain ≥ 5 × BullMQ concurrency 50", ratio >= 5, `${ratio.toFixed(1)} ×`)
  }
  if (xaddAll?.ratio_to_raw != null) check("xaddAll ≥ 0.9 × raw pipelined XADD", xaddAll.ratio_to_raw >= 0.9, `${xaddAll.ratio_to_raw} ×`)
  for (const pass of [rebalance, dlq]) {
    if (pass) check(`${pass.name} pass of ${number(pass.n)} entries < 3 s`, pass.seconds < 3, `${pass.seconds} s`)
  }
  for (const memory of rows.filter((row) => row.name.startsWith("memory/"))) {
    check(`${memory.name}: peak RSS draining ${number(memory.n)} entries < 200 MB`, memory.peak_rss_mb < 200, `${memory.peak_rss_mb} MB`)
  }
  return lines
}
