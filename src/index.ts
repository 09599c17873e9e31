/**
 * effect-redis-streams: reliable Redis Streams for Effect.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Redis from "./Redis.js"

/**
 * @since 0.1.0
 */
export * as RedisError from "./RedisError.js"

/**
 * @since 0.1.0
 */
export * as Naming from "./Naming.js"

/**
 * @since 0.1.0
 */
export * as MessageId from "./MessageId.js"

/**
 * @since 0.1.0
 */
export * as Groups from "./Groups.js"

/**
 * @since 0.1.0
 */
export * as Streams from "./Streams.js"

/**
 * @since 0.1.0
 */
export * as Topic from "./Topic.js"

/**
 * @since 0.1.0
 */
export * as Gc from "./Gc.js"

/**
 * @since 0.1.0
 */
export * as Consumer from "./Consumer.js"
