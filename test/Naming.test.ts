import { describe, expect, it } from "@effect/vitest"
import { Naming } from "../src/index.js"

describe("Naming", () => {
  it("streamName prefixes stream/", () => {
    expect(Naming.streamName("sensor-readings")).toBe("stream/sensor-readings")
  })

  it("groupName prefixes group/", () => {
    expect(Naming.groupName("persist-readings")).toBe("group/persist-readings")
  })

  it("consumerName with an index, a string index, and without one", () => {
    expect(Naming.consumerName("persist-readings", 0)).toBe("consumer/persist-readings/0")
    expect(Naming.consumerName("persist-readings", "eu-1")).toBe("consumer/persist-readings/eu-1")
    expect(Naming.consumerName("persist-readings")).toBe("consumer/persist-readings")
  })

  it("the consumer prefix starts every consumer name of the group", () => {
    const prefix = Naming.consumerName("g")
    expect(Naming.consumerName("g", 7).startsWith(prefix)).toBe(true)
    expect(Naming.consumerName("other", 7).startsWith(prefix)).toBe(false)
  })
})

describe("Naming hash tags", () => {
  it("streamName puts the hash tag in braces after the prefix", () => {
    expect(Naming.streamName("sensor-readings", { hashTag: "sensor" })).toBe("stream/{sensor}sensor-readings")
    expect(Naming.streamName("sensor-readings", {})).toBe("stream/sensor-readings")
  })

  it("hashTagOf reads the tag as Redis Cluster does: first { to the next }, not empty", () => {
    expect(Naming.hashTagOf("stream/{sensor}readings")).toBe("sensor")
    expect(Naming.hashTagOf("stream/{a}{b}")).toBe("a")
    expect(Naming.hashTagOf("stream/{}x")).toBeUndefined()
    expect(Naming.hashTagOf("stream/}{x")).toBeUndefined()
    expect(Naming.hashTagOf("stream/readings")).toBeUndefined()
  })

  it("dlqName shares the stream's tag, and is gc's default without one", () => {
    expect(Naming.dlqName("stream/{sensor}readings")).toBe("stream/{sensor}dlq")
    expect(Naming.dlqName("stream/readings")).toBe("stream/dlq")
  })
})
