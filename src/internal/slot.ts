/**
 * The Redis Cluster hash slot of a key (CRC16/XMODEM of the key, or of its
 * `{hash tag}`, modulo 16384), to refuse a multi-key operation across slots
 * with a clear message before Redis answers CROSSSLOT.
 */

const crc16 = (bytes: Uint8Array): number => {
  let crc = 0
  for (const byte of bytes) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    }
  }
  return crc
}

const hashTag = (key: string): string => {
  const open = key.indexOf("{")
  if (open < 0) return key
  const close = key.indexOf("}", open + 1)
  return close > open + 1 ? key.slice(open + 1, close) : key
}

/** The cluster slot of a key. */
export const slotOf = (key: string): number => crc16(Buffer.from(hashTag(key))) % 16384
