/**
 * Keys that live beside a stream, in its hash slot (a Redis Cluster runs a
 * script over a stream and such a key on one node):
 * `<kind>/{tag}<stream> <name>` for a stream with a hash tag,
 * `<kind>/{<stream>} <name>` otherwise. The space cannot occur in a
 * stream's name, so no two streams' keys collide. A stream whose name has a
 * `}` but no hash tag can have none (`undefined`).
 */
import { hashTagOf } from "../../Naming.js"

export const beside = (kind: string, stream: string, name: string): string | undefined => {
  const key = slotted(kind, stream)
  return key === undefined ? undefined : `${key} ${name}`
}

/** `<kind>/{tag}<stream>` or `<kind>/{<stream>}`: a key of `kind` in the stream's slot, or `undefined` when none can be. */
export const slotted = (kind: string, stream: string): string | undefined => {
  const tag = hashTagOf(stream)
  if (tag !== undefined) return `${kind}/{${tag}}${stream}`
  return stream.includes("}") ? undefined : `${kind}/{${stream}}`
}

/** The key that says a group is paused (`Groups.pause`), beside its stream; its value is the time of the pause (epoch ms). */
export const pausedKeyOf = (stream: string, group: string): string | undefined => beside("paused", stream, group)
