import { layer } from "@effect/vitest"
import { RedisTest } from "../../src/testing/index.js"
import { behaviour } from "./suite.js"

layer(RedisTest.layerCluster(), { excludeTestServices: true, timeout: "60 seconds" })("behaviour on a Redis Cluster", behaviour)
