/**
 * Test helpers: a real `redis-server` per test file.
 *
 * @since 0.1.0
 */
export * as RedisTest from "./RedisTest.js"
