/**
 * Redis's glob patterns (SCAN MATCH, KEYS) matched in the process, as the
 * server matches them: `*` any run, `?` one character, `[abc]`, `[^a]` and
 * `[a-z]` classes, `\` escaping the next character. For the dashboard, which
 * serves only the keys its `pattern` lists.
 */

const special = /[.+^${}()|\\/*?[\]-]/g

/** A `[…]` class of the pattern from `start` (just after `[`): its RegExp source and where it ends. */
const classAt = (pattern: string, start: number): { readonly source: string; readonly end: number } => {
  let i = start
  let negated = false
  if (pattern[i] === "^") {
    negated = true
    i++
  }
  const parts: Array<string> = []
  while (i < pattern.length && pattern[i] !== "]") {
    if (pattern[i] === "\\" && i + 1 < pattern.length) {
      parts.push(pattern[i + 1]!.replace(special, "\\$&"))
      i += 2
    } else if (pattern[i + 1] === "-" && i + 2 < pattern.length && pattern[i + 2] !== "]") {
      const [a, b] = [pattern[i]!, pattern[i + 2]!].sort()
      parts.push(`${a!.replace(special, "\\$&")}-${b!.replace(special, "\\$&")}`)
      i += 3
    } else {
      parts.push(pattern[i]!.replace(special, "\\$&"))
      i++
    }
  }
  // an unclosed class runs to the end of the pattern, as in Redis
  return { source: parts.length === 0 ? (negated ? "[\\s\\S]" : "(?!)") : `[${negated ? "^" : ""}${parts.join("")}]`, end: i + 1 }
}

/** The pattern as an anchored RegExp. */
const toRegExp = (pattern: string): RegExp => {
  let source = ""
  for (let i = 0; i < pattern.length;) {
    const c = pattern[i]!
    if (c === "*") {
      source += "[\\s\\S]*"
      i++
    } else if (c === "?") {
      source += "[\\s\\S]"
      i++
    } else if (c === "[") {
      const found = classAt(pattern, i + 1)
      source += found.source
      i = found.end
    } else if (c === "\\" && i + 1 < pattern.length) {
      source += pattern[i + 1]!.replace(special, "\\$&")
      i += 2
    } else {
      source += c.replace(special, "\\$&")
      i++
    }
  }
  return new RegExp(`^${source}$`)
}

/** Whether a key matches `pattern`, as Redis would match it. */
export const matcher = (pattern: string): (key: string) => boolean => {
  if (pattern === "*") return () => true
  const regexp = toRegExp(pattern)
  return (key) => regexp.test(key)
}
