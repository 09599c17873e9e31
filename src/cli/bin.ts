#!/usr/bin/env node
/**
 * The `effect-redis-streams` command as Node starts it: the check of the
 * installed `effect` line (a one-line error and exit code 1 when it does not
 * fit), then the CLI of `main.ts`.
 *
 * @since 0.1.0
 */
import { installedEffect, mismatch } from "../internal/edition.js"

const message = mismatch(installedEffect(import.meta.url))
if (message === undefined) {
  await import("./main.js")
} else {
  process.stderr.write(`error: ${message}\n`)
  process.exitCode = 1
}
