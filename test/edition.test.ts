/**
 * The entries Node loads check the installed `effect` line before they load
 * the library, and export exactly the names their typed `index.ts` declares.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { effectMajor, installedEffect, mismatch, requireEffect } from "../src/internal/edition.js"

const src = Path.resolve(import.meta.dirname, "../src")

describe("the Effect line check", () => {
  it("accepts every version of this edition's line", () => {
    expect(effectMajor).toBe(3)
    for (const version of ["3.0.0", "3.22.2", "3.22.4", "3.30.0-beta.1"]) expect(mismatch(version)).toBeUndefined()
  })

  it("refuses another line, naming the installed version and the install that fits", () => {
    for (const version of ["4.1.5", "4.0.0-beta.3", "2.4.19", "30.0.0"]) {
      const message = mismatch(version)
      expect(message).toContain(`the installed effect is ${version}`)
      expect(message).toContain("npm install effect@^3 @effect/platform")
    }
  })

  it("refuses a missing effect", () => {
    expect(mismatch(undefined)).toMatch(/needs the package "effect" 3\.x, which is not installed/)
    expect(installedEffect(pathToFileURL("/nonexistent-dir/x.js").href)).toBeUndefined()
    expect(() => requireEffect(pathToFileURL("/nonexistent-dir/x.js").href)).toThrow(/not installed/)
  })

  it("reads the effect this repository resolves", () => {
    expect(installedEffect(pathToFileURL(Path.join(src, "entry.ts")).href)).toMatch(/^3\./)
    expect(() => requireEffect(pathToFileURL(Path.join(src, "entry.ts")).href)).not.toThrow()
  })
})

describe("the entries", () => {
  for (const [entry, index] of [["entry.ts", "index.ts"], ["testing/entry.ts", "testing/index.ts"], ["dashboard/entry.ts", "dashboard/index.ts"]] as const) {
    it(`${entry} exports the names of ${index}`, async () => {
      const loaded: Record<string, unknown> = await import(Path.join(src, entry))
      const typed: Record<string, unknown> = await import(Path.join(src, index))
      expect(Object.keys(loaded).sort()).toEqual(Object.keys(typed).sort())
      for (const name of Object.keys(typed)) expect(loaded[name], name).toBe(typed[name])
    })
  }
})
