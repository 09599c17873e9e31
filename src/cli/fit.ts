/**
 * Help text that fits a terminal: @effect/cli pads its table of commands to
 * the widest usage line (hundreds of columns for `gc`) and never wraps. This
 * reflows what it prints for `--help` to a width (80 by default): a command
 * row becomes its usage, wrapped, then its description, indented below;
 * any other long line is wrapped at spaces under its own indentation.
 * ANSI styling is kept and not counted.
 */

const ansi = /\u001b\[[0-9;]*m/g

const visible = (text: string): number => text.replace(ansi, "").length

/** Wraps `text` at spaces into lines of at most `width` visible columns, each after `indent`. */
const wrap = (text: string, indent: string, width: number): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(" ").filter((w) => w !== "")) {
    const candidate = line === "" ? word : `${line} ${word}`
    if (line !== "" && visible(indent) + visible(candidate) > width) {
      lines.push(indent + line)
      line = word
    } else {
      line = candidate
    }
  }
  if (line !== "") lines.push(indent + line)
  return lines
}

/** A row of the commands table: `  - <usage><padding><description>`. */
const commandRow = /^(\s*)- (.*?\S)\s{2,}(\S.*)$/

/** `text` reflowed to `width` columns. */
export const fit = (text: string, width = 80): string =>
  text.split("\n").flatMap((raw) => {
    const line = raw.replace(/\s+$/, "")
    const row = commandRow.exec(line)
    if (row !== null) {
      const [, indent, usage, description] = row as unknown as [string, string, string, string]
      return [...wrap(`- ${usage}`, indent, width).map((l, i) => (i === 0 ? l : `  ${l}`)), ...wrap(description, `${indent}    `, width)]
    }
    if (visible(line) <= width) return [line]
    const indent = /^\s*/.exec(line)![0]
    return wrap(line.slice(indent.length), indent, width)
  }).join("\n")
