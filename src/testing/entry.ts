/**
 * The `effect-redis-streams/testing` entry as Node loads it: the check of the
 * installed `effect` line, then the module. Its types are those of `index.ts`.
 *
 * @since 0.1.0
 */
import { requireEffect } from "../internal/edition.js"

requireEffect(import.meta.url)

/**
 * `RedisTest`, as `index.ts` documents it.
 *
 * @since 0.1.0
 * @category modules
 */
export const { RedisTest } = await import("./index.js")
