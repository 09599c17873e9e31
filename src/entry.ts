/**
 * The package's main entry as Node loads it (`effect-redis-streams`): it
 * checks that the installed `effect` is of this edition's line, then loads
 * the library. Its types are those of `index.ts`, which names the modules.
 *
 * @since 0.1.0
 */
import { requireEffect } from "./internal/edition.js"

requireEffect(import.meta.url)

/**
 * The library's modules, as `index.ts` documents them.
 *
 * @since 0.1.0
 * @category modules
 */
export const { Consumer, Gc, Groups, MessageId, Naming, Redis, RedisError, Streams, Topic } = await import("./index.js")
