/**
 * The dashboard page in a real headless Chromium (Debian's `chromium`,
 * driven by playwright-core; no browser is downloaded): it lists the stream
 * and group, follows the pending count as a consumer handles entries, shows
 * a dead-lettered entry, its redrive button moves it back, and a group's
 * pause and resume buttons pause and resume it. Every wait
 * polls the page for its condition with a deadline. With
 * `DASHBOARD_SCREENSHOT=docs/dashboard.png` its screenshot of the dead-letter
 * view is docs/dashboard.md's; otherwise it goes to a temporary folder.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as fs from "node:fs"
import * as Http from "node:http"
import * as os from "node:os"
import * as Path from "node:path"
import type { Browser, Page } from "playwright-core"
import { chromium } from "playwright-core"
import * as Consumer from "../src/Consumer.js"
import { Dashboard } from "../src/dashboard/index.js"
import * as Gc from "../src/Gc.js"
import * as Groups from "../src/Groups.js"
import * as Naming from "../src/Naming.js"
import * as Redis from "../src/Redis.js"
import * as Streams from "../src/Streams.js"
import { RedisTest } from "../src/testing/index.js"

const executablePath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const screenshot = Path.resolve(
  import.meta.dirname,
  "..",
  process.env["DASHBOARD_SCREENSHOT"] ?? Path.join(os.tmpdir(), `dashboard-${process.pid}.png`)
)

/** Chromium with `extra` arguments (e.g. host resolver rules that map names to 127.0.0.1, with no DNS). */
const browserWith = (extra: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      chromium.launch({
        executablePath,
        headless: true,
        // no network but loopback here: keep Chromium from calling home
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extra]
      })
    ),
    (browser: Browser) => Effect.promise(() => browser.close())
  )

const browser = browserWith([])

/** A page of another origin on 127.0.0.1 (the attacker's), serving `html`; its port. */
const attackerPage = (html: string) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((_, response) => response.writeHead(200, { "content-type": "text/html" }).end(html))
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as { readonly port: number }).port))

/** Polls `check` against the page until it holds, failing with its last error after `within` ms. */
const until = (page: Page, what: string, check: () => Promise<boolean>, within = 15_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + within
    let last: unknown = undefined
    while (Date.now() < deadline) {
      try {
        if (await check()) return
      } catch (error) {
        last = error
      }
      await page.waitForTimeout(50)
    }
    throw new Error(`the page never showed ${what}${last === undefined ? "" : `: ${String(last)}`}`)
  })

const textOf = (page: Page, selector: string) => page.locator(selector).first().textContent({ timeout: 1_000 })

const xlen = (key: string) => Effect.flatMap(Redis.Redis, (redis) => redis.send("XLEN", [key]))

const served = Dashboard.layer({ port: 0, interval: "200 millis" }).pipe(Layer.provideMerge(RedisTest.layer()))

layer(served, { excludeTestServices: true, timeout: "90 seconds" })("Dashboard in Chromium", (it) => {
  it.scoped("shows the stream and group, follows pending, lists a dead letter and redrives it", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("browser", { hashTag: "browser" })
      const group = Naming.groupName("browser")
      const dlq = Naming.dlqName(stream)
      yield* Groups.create(stream, group, { from: "0" })
      yield* Streams.xaddAll(stream, Array.from({ length: 5 }, (_, i) => ({ n: i })))
      // a consumer that takes the entries and holds them until released
      const release = yield* Effect.makeLatch(false)
      const held = yield* Effect.fork(Consumer.run({
        stream,
        group,
        consumer: Naming.consumerName("browser", 0),
        block: "100 millis",
        handler: () => release.await
      }))

      const url = yield* Dashboard.url()
      const chromiumBrowser = yield* browser
      const page = yield* Effect.promise(() => chromiumBrowser.newPage({ viewport: { width: 1280, height: 900 } }))
      yield* Effect.promise(() => page.goto(url))
      const row = `[data-group="${stream}|${group}"]`
      yield* until(page, "the stream", async () => (await textOf(page, `[data-stream="${stream}"] h3`)) === stream)
      yield* until(page, "the group", async () => (await page.locator(row).count()) === 1)
      yield* until(page, "entries pending for the consumer", async () => Number(await textOf(page, `${row} [data-field="pending"]`)) > 0)
      yield* until(page, "the live status", async () => (await textOf(page, "#status"))!.startsWith("live (events)"))

      // the consumer handles them: pending falls to 0 on the page
      yield* release.open
      yield* until(page, "pending back to 0", async () => (await textOf(page, `${row} [data-field="pending"]`)) === "0")
      yield* Fiber.interrupt(held)

      // a poison entry, dead-lettered by gc
      yield* Streams.xaddMap(stream, "*", { poison: "yes" })
      const poison = yield* Effect.fork(Consumer.run({
        stream,
        group,
        consumer: Naming.consumerName("browser", 1),
        block: "100 millis",
        handler: () => Effect.fail("poison"),
        control: (event) => Effect.succeed(event._tag === "HandlerFailed" ? Consumer.Control.Exit() : Consumer.Control.Recur())
      }))
      yield* Effect.exit(Fiber.join(poison))
      yield* Gc.collect(stream, group, { dlq: { deliveries: 1 }, rebalance: false })
      const dlqRow = `[data-dlq="${dlq}"]`
      yield* until(page, "the dead-letter stream", async () => (await textOf(page, `${dlqRow} [data-field="length"]`)) === "1")
      yield* Effect.promise(() => page.locator(`${dlqRow} [data-action="view"]`).click())
      yield* until(page, "the dead letter", async () => (await page.locator("[data-letter]").count()) === 1)
      expect(yield* Effect.promise(() => page.locator("[data-letter] td").nth(6).textContent())).toBe("Deliveries")
      expect(yield* Effect.promise(() => page.locator("[data-letter] td").nth(7).textContent())).toBe("poison")
      expect(yield* Effect.promise(() => page.locator("[data-letter] td").nth(9).textContent())).toContain("poison")
      fs.mkdirSync(Path.dirname(screenshot), { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: screenshot, fullPage: true }))

      const before = Number(yield* xlen(stream))
      yield* Effect.promise(() => page.locator("#redrive").click())
      yield* until(page, "the redrive done", async () => (await textOf(page, "#message")) === "redrove 1 entry")
      expect(yield* xlen(dlq)).toBe(0)
      expect(yield* xlen(stream)).toBe(before + 1)
      yield* until(page, "the letter gone", async () => (await page.locator("[data-letter]").count()) === 0)
      expect(fs.statSync(screenshot).size).toBeGreaterThan(10_000)

      // the group's pause button pauses it for every consumer, and the page shows it; resume undoes it
      yield* Effect.promise(() => page.locator(`${row} [data-action="pause"]`).click())
      yield* until(page, "the group paused", async () => (await page.locator(`${row} [data-field="paused"]`).count()) === 1)
      expect(yield* Groups.isPaused(stream, group)).toBe(true)
      yield* Effect.promise(() => page.locator(`${row} [data-action="resume"]`).click())
      yield* until(page, "the group resumed", async () => (await page.locator(`${row} [data-field="paused"]`).count()) === 0)
      expect(yield* Groups.isPaused(stream, group)).toBe(false)
    }))

  it.scoped("a DNS-rebinding page gets nothing, and a framing page shows no dashboard", () =>
    Effect.gen(function*() {
      const stream = Naming.streamName("rebind", { hashTag: "rebind" })
      const group = Naming.groupName("rebind")
      yield* Groups.create(stream, group, { from: "0" })
      yield* Streams.xaddMap(stream, "*", { n: 1 })
      const port = new URL(yield* Dashboard.url()).port
      const chromiumBrowser = yield* browserWith(["--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP attacker.test 127.0.0.1"])
      const page = yield* Effect.promise(() => chromiumBrowser.newPage())

      // rebind.test now points at this machine: the page it serves, and its same-origin reads, are refused
      const landing = yield* Effect.promise(() => page.goto(`http://rebind.test:${port}/`))
      expect(landing?.status()).toBe(403)
      const read = yield* Effect.promise(() =>
        page.evaluate(async () => {
          const response = await fetch("/api/snapshot")
          return { status: response.status, body: await response.text() }
        })
      )
      expect(read.status).toBe(403)
      expect(read.body).not.toContain(stream)
      const write = yield* Effect.promise(() => page.evaluate(async () => (await fetch("/api/dlq/x/redrive", { method: "POST" })).status))
      expect(write).toBe(403)

      // a page elsewhere frames the real dashboard: Chromium refuses to show it
      const attacker = yield* attackerPage(
        `<title>attacker</title><iframe src="http://127.0.0.1:${port}/" onload="window.framed = true"></iframe>`
      )
      yield* Effect.promise(() => page.goto(`http://attacker.test:${attacker}/`))
      yield* until(page, "the frame loaded (or refused)", () => page.evaluate(() => (globalThis as { framed?: boolean }).framed === true))
      const titles = yield* Effect.promise(() => Promise.all(page.frames().map((frame) => frame.title().catch(() => ""))))
      expect(titles).toContain("attacker")
      expect(titles.some((title) => title.includes("effect-redis-streams dashboard"))).toBe(false)
      // the same frame with the protections off would have shown it: the page itself is the dashboard
      yield* Effect.promise(() => page.goto(`http://127.0.0.1:${port}/`))
      expect(yield* Effect.promise(() => page.title())).toContain("effect-redis-streams dashboard")
    }))
})
