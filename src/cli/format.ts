/**
 * Text and JSON output of the operator CLI (and the demo's live table): the
 * only place that knows how things look on a terminal.
 *
 * @since 0.1.0
 */
import { Option } from "effect"
import type * as Gc from "../Gc.js"
import type * as Groups from "../Groups.js"

/**
 * Left-aligned columns separated by two spaces, with a header row.
 *
 * @since 0.1.0
 * @category formatting
 */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>): string => {
  const cells = [headers, ...rows.map((row) => row.map(String))]
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? "").length)))
  return cells.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()).join("\n")
}

/**
 * Pretty JSON; sets become arrays.
 *
 * @since 0.1.0
 * @category formatting
 */
export const json = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (v instanceof Set ? Array.from(v) : v), 2)

/**
 * A duration in milliseconds as a short human string: `850ms`, `12.3s`, `4m05s`, `2h10m`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const millis = (ms: number): string => {
  if (ms < 1_000) return `${ms}ms`
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 60) return `${minutes}m${String(Math.floor((ms % 60_000) / 1_000)).padStart(2, "0")}s`
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`
}

/**
 * A group's stats: a summary line and one row per consumer. `dlqLength` adds
 * the length of the dead-letter stream to the summary.
 *
 * @since 0.1.0
 * @category formatting
 */
export const stats = (stream: string, stats: Groups.GroupStats, dlqLength?: number): string => {
  const delayed = stats.delayed
  const summary = [
    `${stream} ${stats.name}`,
    `consumers ${stats.consumers.length}`,
    `pending ${stats.pending}`,
    `unconsumed ${stats.unconsumed}`,
    `last delivered ${stats.lastDeliveredId}`,
    ...(dlqLength === undefined ? [] : [`dlq ${dlqLength}`]),
    ...(stats.paused ? ["PAUSED"] : []),
    ...(delayed.count === 0
      ? []
      : [`delayed ${delayed.count} (next due ${Option.match(delayed.nextDue, { onNone: () => "–", onSome: (due) => due.toISOString() })})`])
  ].join("  ")
  const rows = stats.consumers.map((consumer) => [consumer.name, consumer.pending, millis(consumer.idle)])
  return `${summary}\n${table(["CONSUMER", "PENDING", "IDLE"], rows)}`
}

/**
 * One line per gc action and a count per kind.
 *
 * @since 0.1.0
 * @category formatting
 */
export const gcActions = (actions: ReadonlyArray<Gc.GcAction>, dryRun: boolean): string => {
  const counts = new Map<string, number>()
  const rows = actions.map((action) => {
    counts.set(action._tag, (counts.get(action._tag) ?? 0) + 1)
    return action._tag === "Deregister"
      ? [action._tag, "", action.consumer, ""]
      : [action._tag, action.id, action.consumer, action._tag === "Rebalance" ? action.claimant : ""]
  })
  const summary = `${actions.length} action(s)${
    actions.length === 0 ? "" : `: ${Array.from(counts, ([tag, n]) => `${n} ${tag}`).join(", ")}`
  }${dryRun ? " (dry run: nothing was changed)" : ""}`
  return rows.length === 0 ? summary : `${table(["ACTION", "ID", "CONSUMER", "CLAIMANT"], rows)}\n${summary}`
}

/**
 * The dead-lettered entries as a table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const deadLetters = (letters: ReadonlyArray<Gc.DeadLetter>): string =>
  letters.length === 0
    ? "no dead letters"
    : table(
      ["STREAM", "GROUP", "CONSUMER", "ID", "DELIVERIES", "IDLE", "REASON", "ERROR", "DEAD-LETTERED", "FIELDS"],
      letters.map((letter) => [
        letter.stream,
        letter.group,
        letter.consumer,
        letter.id,
        letter.deliveries,
        millis(letter.idle),
        letter.reason,
        letter.error === undefined ? "" : `${letter.error.tag === undefined ? "" : `${letter.error.tag}: `}${letter.error.message}`,
        letter.deadLetteredAt.toISOString(),
        JSON.stringify(letter.fields)
      ])
    )

/**
 * A list, one item per line, or a message when it is empty.
 *
 * @since 0.1.0
 * @category formatting
 */
export const lines = (items: Iterable<string>, empty: string): string => {
  const list = Array.from(items).sort()
  return list.length === 0 ? empty : list.join("\n")
}

/**
 * Text for a screen that is redrawn: on a TTY it clears the screen first,
 * elsewhere it ends with a blank line so successive frames stay readable.
 *
 * @since 0.1.0
 * @category formatting
 */
export const frame = (text: string, tty: boolean): string => (tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`)
