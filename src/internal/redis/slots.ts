/**
 * Redis Cluster hash slots: which keys a command touches and where they live,
 * so an operation whose keys are in different slots is refused before it is
 * sent, with the keys and slots named.
 *
 * The key positions and the slot function are ioredis' own (its command
 * table and `cluster-key-slot`), so this agrees with how ioredis routes.
 */
import { Effect } from "effect"
import { Command as IOCommand } from "ioredis"
import type { Command } from "./command.js"
import * as RedisError from "../../RedisError.js"

/** The keys of a command, by the ioredis command table (none for an unknown command). */
export const keysOf = ([name, args]: Command): ReadonlyArray<string | Buffer> => new IOCommand(name, [...args]).getKeys()

/** The hash slot of a key: CRC16 of its hash tag (or of the whole key) mod 16384. */
export const slotOf = (key: string | Buffer): number => new IOCommand("EXISTS", [key]).getSlot()

const MAX_LISTED = 4

const describe = (bySlot: ReadonlyMap<number, ReadonlyArray<string>>): string =>
  [...bySlot].slice(0, MAX_LISTED).map(([slot, keys]) =>
    `slot ${slot}: ${keys.slice(0, MAX_LISTED).map((key) => JSON.stringify(key)).join(", ")}${keys.length > MAX_LISTED ? ", …" : ""}`
  ).join("; ") + (bySlot.size > MAX_LISTED ? "; …" : "")

/**
 * Succeeds when every key of the commands is in one slot (or there is no
 * key); fails with reason `CrossSlot` naming the keys by slot otherwise.
 */
export const inOneSlot = (what: string, commands: ReadonlyArray<Command>): Effect.Effect<void, RedisError.RedisError> => {
  const bySlot = new Map<number, Array<string>>()
  for (const command of commands) {
    for (const key of keysOf(command)) {
      const slot = slotOf(key)
      const keys = bySlot.get(slot)
      if (keys === undefined) bySlot.set(slot, [String(key)])
      else if (!keys.includes(String(key))) keys.push(String(key))
    }
  }
  return bySlot.size <= 1 ? Effect.void : Effect.fail(
    new RedisError.RedisError({
      reason: "CrossSlot",
      command: what,
      message: `${what} needs all its keys in one hash slot on a Redis Cluster, but they are in ${bySlot.size} slots (${
        describe(bySlot)
      }); give keys used together a shared hash tag, e.g. Naming.streamName(name, { hashTag })`
    })
  )
}
