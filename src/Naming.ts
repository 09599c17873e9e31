/**
 * Consistent names for streams, groups and consumers (the seed's
 * `stream-name`, `group-name`, `consumer-name`).
 *
 * ```ts
 * Naming.streamName("sensor-readings")       // "stream/sensor-readings"
 * Naming.groupName("persist-readings")       // "group/persist-readings"
 * Naming.consumerName("persist-readings", 0) // "consumer/persist-readings/0"
 * Naming.consumerName("persist-readings")    // "consumer/persist-readings"
 * ```
 *
 * These are pure and do not validate: the functions that send a name to Redis
 * refuse empty names and names with whitespace with `RedisError`
 * (`InvalidArgument`).
 *
 * @since 0.1.0
 */

/**
 * `"stream/" + name`.
 *
 * @since 0.1.0
 * @category naming
 */
export const streamName = (name: string): string => `stream/${name}`

/**
 * `"group/" + name`.
 *
 * @since 0.1.0
 * @category naming
 */
export const groupName = (name: string): string => `group/${name}`

/**
 * `"consumer/" + name`, and `"/" + index` when an index is given. Without an
 * index it is also the prefix that matches all of that group's consumers in
 * `Consumer.unblock`.
 *
 * @since 0.1.0
 * @category naming
 */
export const consumerName = (name: string, index?: number | string): string =>
  index === undefined ? `consumer/${name}` : `consumer/${name}/${index}`
