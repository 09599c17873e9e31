/**
 * `effect-redis-streams/dashboard`: the live web dashboard. A subpath of its
 * own, so that importing the library does not load an HTTP server (Node's
 * HTTP server and `@effect/platform-node` add ~30 MB to a process that only
 * consumes streams).
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Dashboard from "../Dashboard.js"
