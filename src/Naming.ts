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
 * On a Redis Cluster, keys used together in one transaction (a stream and
 * its dead-letter stream, when gc moves an entry) must be in one hash slot.
 * Give them a shared **hash tag**: Redis hashes only the part of a key
 * between the first `{` and the next `}`.
 *
 * ```ts
 * Naming.streamName("readings", { hashTag: "sensor" }) // "stream/{sensor}readings"
 * Naming.dlqName("stream/{sensor}readings")            // "stream/{sensor}dlq", the same slot
 * Naming.dlqName("stream/readings")                    // "stream/dlq"
 * ```
 *
 * These are pure and do not validate: the functions that send a name to Redis
 * refuse empty names and names with whitespace with `RedisError`
 * (`InvalidArgument`).
 *
 * @since 0.1.0
 */

/**
 * Options of {@link streamName}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamNameOptions {
  /**
   * A hash tag (non-empty, without braces): every key with the same tag is
   * in the same Redis Cluster slot, hence on the same node.
   */
  readonly hashTag?: string | undefined
}

/**
 * `"stream/" + name`; with a hash tag, `"stream/{" + hashTag + "}" + name`.
 *
 * @since 0.1.0
 * @category naming
 */
export const streamName = (name: string, options?: StreamNameOptions): string =>
  options?.hashTag === undefined ? `stream/${name}` : `stream/{${options.hashTag}}${name}`

/**
 * The hash tag of a key as Redis Cluster reads it: the text between the first
 * `{` and the next `}`, if not empty.
 *
 * @since 0.1.0
 * @category naming
 */
export const hashTagOf = (key: string): string | undefined => {
  const open = key.indexOf("{")
  const close = open < 0 ? -1 : key.indexOf("}", open + 1)
  return close > open + 1 ? key.slice(open + 1, close) : undefined
}

/**
 * A dead-letter stream in the slot of `stream`: `"stream/{tag}dlq"` when
 * `stream` has a hash tag, `"stream/dlq"` (gc's default) when it has none.
 *
 * @since 0.1.0
 * @category naming
 */
export const dlqName = (stream: string): string => streamName("dlq", { hashTag: hashTagOf(stream) })

/**
 * The sorted set that holds a stream's delayed entries (`Streams.xaddMap`'s
 * `delay`) until they are due, in the stream's slot:
 * `"delayed/{tag}<stream>"` when `stream` has a hash tag,
 * `"delayed/{<stream>}"` otherwise; `undefined` for a name with a `}` but no
 * hash tag (no key can share its slot). Their fields are in a hash beside
 * it, the same name and `" entries"`.
 *
 * @since 0.1.0
 * @category naming
 */
export const delayedName = (stream: string): string | undefined => {
  const tag = hashTagOf(stream)
  if (tag !== undefined) return `delayed/{${tag}}${stream}`
  return stream.includes("}") ? undefined : `delayed/{${stream}}`
}

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
