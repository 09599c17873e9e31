import { layer } from "@effect/vitest"
import { RedisTest } from "../../src/testing/index.js"
import { behaviour } from "./suite.js"

layer(RedisTest.layer(), { excludeTestServices: true })("behaviour on a single server", behaviour)
