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
    "| scenario | n | seconds | entries/s | × raw | peak RSS MB (at start) | notes |",
    "|---|--:|--:|--:|--:|--:|---|",
    ...rows.map((row) =>
      `| ${row.name} | ${number(row.n)} | ${row.seconds.toFixed(2)} | ${number(row.per_s)} | ${
        row.ratio_to_raw?.toFixed(2) ?? "–"
      } | ${row.peak_rss_mb.toFixed(0)} (${row.start_rss_mb.toFixed(0)}) | ${notes(row)} |`
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
  if (tuned?.ratio_to_raw != null) check("tuned drain ≥ 0.9 × raw batch loop", tuned.ratio_to_raw >= 0.9, `${tuned.ratio_to_raw} ×`)
  if (byDefault?.ratio_to_raw != null) {
    check("default drain ≥ 0.6 × raw batch loop", byDefault.ratio_to_raw >= 0.6, `${byDefault.ratio_to_raw} ×`)
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
