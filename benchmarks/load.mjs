// One measurement with autocannon, run in its own process by benchmarks/http_bench.py.
// Reads a JSON job on argv[2]; prints one JSON line: requests/s and exact p50/p95/p99 (ms)
// over the 2xx responses (autocannon's own summary has no p95), plus the failures.
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'

const job = JSON.parse(process.argv[2])
const headers = { authorization: `Bearer ${job.token}` }
let next = 0
const pick = () => job.product_ids[next++ % job.product_ids.length]

const scenarios = {
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
const instance = autocannon({
  url: job.url,
  connections: job.connections,
  duration: job.duration,
  requests: [{ setupRequest: scenarios[job.scenario] }],
})
instance.on('response', (_client, statusCode, _bytes, responseTime) => {
  if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
})
instance.on('done', (result) => {
  latencies.sort((a, b) => a - b)
  const at = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null)
  console.log(JSON.stringify({
    ok: latencies.length,
    rps: latencies.length / result.duration,
    p50: at(50), p95: at(95), p99: at(99),
    non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts,
    status_codes: result.statusCodeStats,
  }))
})
