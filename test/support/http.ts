/**
 * Raw HTTP requests to the dashboard a test serves (so `Host` can be forged
 * and a path is sent as written).
 */
import { Effect } from "effect"
import * as Http from "node:http"
import { Dashboard } from "../../src/dashboard/index.js"

export interface Reply {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** A raw request to the dashboard: any path as written, any Host; the first bytes of a stream are enough. */
export const raw = (path: string, options: { readonly method?: string; readonly headers?: Record<string, string> } = {}) =>
  Effect.flatMap(Dashboard.url(), (base) =>
    Effect.async<Reply>((resume) => {
      const { hostname, port } = new URL(base)
      const request = Http.request({ host: hostname, port, path, method: options.method ?? "GET", headers: options.headers }, (response) => {
        let body = ""
        response.on("data", (chunk) => {
          body += String(chunk)
          // an event stream never ends: its first event is the answer
          if (response.headers["content-type"]?.startsWith("text/event-stream")) {
            request.destroy()
            resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, body }))
          }
        })
        response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, body })))
      })
      request.on("error", () => {})
      request.end()
    }))

