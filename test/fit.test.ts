/**
 * The CLI's help reflow (src/cli/fit.ts), on the shapes @effect/cli prints.
 */
import { describe, expect, it } from "@effect/vitest"
import { fit } from "../src/cli/fit.js"

describe("fit", () => {
  it("splits a padded command row into its usage and its description, each wrapped", () => {
    const row = `  - gc [--url text] [--json] [--dry-run] [--rebalance-idle text] [--rebalance-deliveries integer]${" ".repeat(40)}One gc pass over a group`
    expect(fit(row, 60).split("\n")).toEqual([
      "  - gc [--url text] [--json] [--dry-run] [--rebalance-idle",
      "    text] [--rebalance-deliveries integer]",
      "      One gc pass over a group"
    ])
  })

  it("wraps a long line under its own indentation, not counting ANSI codes, and drops trailing padding", () => {
    const bold = "\u001b[1m"
    const text = `  ${bold}word `.repeat(12) + "   "
    const lines = fit(text, 30).split("\n")
    expect(lines.every((line) => line.replace(/\u001b\[[0-9;]*m/g, "").length <= 30)).toBe(true)
    expect(lines.every((line) => line.startsWith("  "))).toBe(true)
    expect(lines.join(" ").match(/word/g)).toHaveLength(12)
  })

  it("leaves lines that fit alone", () => {
    expect(fit("USAGE\n\n$ effect-redis-streams", 80)).toBe("USAGE\n\n$ effect-redis-streams")
  })
})
