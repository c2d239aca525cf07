// One measurement, run in its own process by benchmarks/http_bench.py: with autocannon, or
// paced at `rate` requests/s (see `paced`). Reads a JSON job on argv[2]; prints one JSON
// line: requests/s and exact p50/p95/p99 (ms) over the 2xx responses (autocannon's own
// summary has no p95), plus the failures.
import { randomUUID } from 'node:crypto'
import http from 'node:http'
import autocannon from 'autocannon'

const job = JSON.parse(process.argv[2])
const headers = { authorization: `Bearer ${job.token}` }
let next = 0
const pick = () => job.product_ids[next++ % job.product_ids.length]

const scenarios = {
  // `just bench-runtime`: one GET of `job.path` (cycling over `job.paths` when given).
  path: (req) => ({
    ...req, method: 'GET', path: job.paths ? job.paths[next++ % job.paths.length] : job.path,
  }),
  get_product: (req) => ({
    ...req, method: 'GET', path: `/v1/teams/${job.team_id}/products/${pick()}`, headers,
  }),
  list_products: (req) => ({
    ...req, method: 'GET', path: `/v1/teams/${job.team_id}/products?limit=20`, headers,
  }),
  create_order: (req) => ({
    ...req,
    method: 'POST',
    path: `/v1/teams/${job.team_id}/orders`,
    // A unique key per request: every request places a new order.
    headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({
      customer_email: 'bench@example.com',
      lines: [{ product_id: pick(), quantity: 1 }],
    }),
  }),
}

const latencies = []
const at = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null)
const report = (duration, rest) => {
  latencies.sort((a, b) => a - b)
  console.log(JSON.stringify({
    ok: latencies.length,
    rps: latencies.length / duration,
    p50: at(50), p95: at(95), p99: at(99),
    ...rest,
  }))
}

if (job.rate) paced()
else closedLoop()

// Each connection sends its next request as soon as the last is answered (autocannon).
function closedLoop () {
  const instance = autocannon({
    url: job.url,
    connections: job.connections,
    duration: job.duration,
    requests: [{ setupRequest: scenarios[job.scenario] }],
  })
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
  })
  instance.on('done', (result) => report(result.duration, {
    non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts,
    status_codes: result.statusCodeStats,
  }))
}

// `job.rate` requests per second in all, evenly spaced, over at most `job.connections`
// keep-alive connections; a request waits for a free one if all are busy. Latency counts
// from when the request was due, so waiting for a connection counts too (no coordinated
// omission). autocannon's own rate option sends each second's requests in one burst.
function paced () {
  const target = new URL(job.url)
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections })
  const gap = 1000 / job.rate
  const start = performance.now()
  const stop = start + job.duration * 1000
  const codes = {}
  let due = start
  let last = start
  let open = 0
  let non2xx = 0
  let errors = 0
  const send = (scheduled) => {
    const request = scenarios[job.scenario]({})
    open++
    const outgoing = http.request({
      host: target.hostname, port: target.port, agent,
      method: request.method, path: request.path, headers: request.headers,
    }, (response) => {
      response.resume()
      response.on('end', () => {
        open--
        last = performance.now()
        codes[response.statusCode] = (codes[response.statusCode] || 0) + 1
        if (response.statusCode >= 200 && response.statusCode < 300) latencies.push(performance.now() - scheduled)
        else non2xx++
      })
    })
    outgoing.on('error', () => { open--; errors++ })
    outgoing.end(request.body)
  }
  const timer = setInterval(() => {
    const now = performance.now()
    for (; due <= now && due < stop; due += gap) send(due)
    if (due >= stop) {
      clearInterval(timer)
      const waitUntil = now + 10_000
      const drain = setInterval(() => {
        if (open === 0 || performance.now() > waitUntil) {
          clearInterval(drain)
          agent.destroy()
          // Requests/s over the time until the last answer: a server that falls behind
          // answers the rest after the load has stopped.
          const seconds = Math.max(job.duration, (last - start) / 1000)
          report(seconds, { non2xx, errors, timeouts: open, status_codes: codes })
        }
      }, 5)
    }
  }, 1)
}
