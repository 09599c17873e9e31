/**
 * The check each public entry runs before it loads the library: the installed
 * `effect` is the major line this edition is built for.
 *
 * Without it, an app that forced the install beside another line (npm's
 * `--legacy-peer-deps` or `--force`) fails in Node's module linker, before any
 * code runs, with a message about a missing export (`does not provide an
 * export named 'Either'`) that names neither the package nor the fix. So the
 * entries (`index`, `testing/entry`, `dashboard/entry`, `cli/bin`) import only
 * this module statically, call {@link requireEffect}, and load the library
 * with a dynamic `import()` after it.
 */
import { createRequire } from "node:module"

/** The `effect` line this edition is built for. */
export const effectMajor = 3

/** The version of the `effect` package that a module at `from` resolves, or `undefined` when none is installed. */
export const installedEffect = (from: string): string | undefined => {
  try {
    const manifest: unknown = createRequire(from)("effect/package.json")
    return typeof manifest === "object" && manifest !== null && "version" in manifest && typeof manifest.version === "string"
      ? manifest.version
      : undefined
  } catch {
    return undefined
  }
}

/** The message for an app whose installed `effect` is `version` (or none), or `undefined` when it fits. */
export const mismatch = (version: string | undefined): string | undefined => {
  const fix = `Install it beside this package: npm install effect@^${effectMajor} @effect/platform`
  if (version === undefined) return `effect-redis-streams needs the package "effect" ${effectMajor}.x, which is not installed. ${fix}`
  if (version.split(".")[0] === String(effectMajor)) return undefined
  return `effect-redis-streams (this edition) needs effect ${effectMajor}.x, but the installed effect is ${version}. ${fix} (npm's latest is 4.x).`
}

/** Throws a clear error when the `effect` that `from` resolves is not of this edition's line. */
export const requireEffect = (from: string): void => {
  const message = mismatch(installedEffect(from))
  if (message !== undefined) throw new Error(message)
}
