import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { MessageId, RedisError } from "../src/index.js"

const MAX = "18446744073709551615"

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error("expected a throw")
}

const expectInvalid = (f: () => unknown) => {
  const error = thrown(f)
  expect(RedisError.isRedisError(error) && error.reason).toBe("InvalidArgument")
}

describe("MessageId.next", () => {
  it("increments the sequence", () => {
    expect(MessageId.next("0-1")).toBe("0-2")
    expect(MessageId.next("123")).toBe("123-1")
  })

  it("works at 2^64 - 1 without losing precision", () => {
    expect(MessageId.next(`${MAX}-18446744073709551614`)).toBe(`${MAX}-${MAX}`)
    expect(MessageId.next(`5-${MAX}`)).toBe("6-0")
    expect(MessageId.next(`18446744073709551614-${MAX}`)).toBe(`${MAX}-0`)
  })

  it("refuses the largest id", () => {
    expectInvalid(() => MessageId.next(`${MAX}-${MAX}`))
  })
})

describe("MessageId.prev", () => {
  it("decrements, borrowing from the milliseconds", () => {
    expect(MessageId.prev("0-2")).toBe("0-1")
    expect(MessageId.prev("5-0")).toBe(`4-${MAX}`)
    expect(MessageId.prev("5")).toBe(`4-${MAX}`)
    expect(MessageId.prev(`${MAX}-${MAX}`)).toBe(`${MAX}-18446744073709551614`)
  })

  it("is the inverse of next", () => {
    for (const id of ["0-1", "7-0", `3-${MAX}`, "1700000000000-42"]) {
      expect(MessageId.prev(MessageId.next(id))).toBe(MessageId.format(MessageId.parse(id)))
    }
  })

  it("refuses the smallest id", () => {
    expectInvalid(() => MessageId.prev("0-0"))
  })
})

describe("MessageId.compare", () => {
  it("orders by milliseconds, then sequence, numerically", () => {
    expect(MessageId.compare("1-0", "2-0")).toBe(-1)
    expect(MessageId.compare("2-0", "1-99")).toBe(1)
    expect(MessageId.compare("1-2", "1-10")).toBe(-1)
    expect(MessageId.compare("10-0", "9-0")).toBe(1)
    expect(MessageId.compare("5", "5-0")).toBe(0)
    expect(MessageId.compare(`${MAX}-${MAX}`, `${MAX}-18446744073709551614`)).toBe(1)
  })

  it("throws InvalidArgument on a malformed id", () => {
    expectInvalid(() => MessageId.compare("1-0", "x"))
    expectInvalid(() => MessageId.compare("1-", "1-0"))
  })
})

describe("MessageId parsing", () => {
  it("parse and format", () => {
    expect(MessageId.parse("12-3")).toEqual({ ms: 12n, seq: 3n })
    expect(MessageId.parse("12")).toEqual({ ms: 12n, seq: 0n })
    expect(MessageId.format({ ms: 1n, seq: 2n })).toBe("1-2")
  })

  it("malformed ids: parse throws, parseEither returns Left", () => {
    for (const id of ["", "-", "a-1", "1-b", "1-2-3", " 1-2", "1-2 ", "-1-0", "1.5-0", "18446744073709551616-0", `0-18446744073709551616`]) {
      expectInvalid(() => MessageId.parse(id))
      expect(Either.isLeft(MessageId.parseEither(id))).toBe(true)
    }
    expect(Either.isRight(MessageId.parseEither(`${MAX}-${MAX}`))).toBe(true)
  })

  it.effect("validate succeeds with the id or fails with InvalidArgument", () =>
    Effect.gen(function*() {
      expect(yield* MessageId.validate("1-1")).toBe("1-1")
      const error = yield* Effect.flip(MessageId.validate("nope"))
      expect(error.reason).toBe("InvalidArgument")
      expect(error.message).toContain("nope")
    }))
})
