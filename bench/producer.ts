/**
 * The producer of the live scenario, a process of its own:
 * `node --import tsx bench/producer.ts <redis url> <stream> <n> [rate]`.
 * Writes `n` entries in pipelines of 100 at `rate` entries/s (0: as fast as
 * it can), each stamped with the wall-clock time it was sent (field `ts`,
 * milliseconds) for end-to-end latency.
 */
import { Redis as IORedis } from "ioredis"
import { pipelinedXadd } from "./raw.js"

const [url, stream, count, perSecond = "0"] = process.argv.slice(2)
const n = Number(count)
const rate = Number(perSecond)
if (url === undefined || stream === undefined || !Number.isInteger(n) || n <= 0 || !(rate >= 0)) {
  console.error("usage: producer.ts <redis url> <stream> <n> [rate]")
  process.exit(2)
}
const client = new IORedis(url, { maxRetriesPerRequest: null })
pipelinedXadd(client, stream, n, 100, rate).then(
  () => client.quit().then(() => process.exit(0)),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
