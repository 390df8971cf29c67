// The Pool tier through Pool and Gateway, against the reference OpenAI-compatible server
// (scripts/pool_server.py, llama-cpp-python's server serving the test model) and the embedded
// model. The Makefile exports BIZRA_POOL_PYTHON and BIZRA_POOL_SERVER (`make pool-server`
// installs the server) and BIZRA_TEST_MODEL (`make model`). These tests fail, never skip, when
// any of them is missing.
import { after, before, test as nodeTest } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { BizraError, Envelope, Gateway, Identity, Model, Pool, TokenStream } from 'bizra'

const MODEL_PATH = process.env.BIZRA_TEST_MODEL || join(homedir(), '.cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf')
if (!existsSync(MODEL_PATH)) {
  throw new Error(`the test model is missing at ${MODEL_PATH}: run \`make model\` (or set BIZRA_TEST_MODEL)`)
}
const { BIZRA_POOL_PYTHON: POOL_PYTHON, BIZRA_POOL_SERVER: POOL_SERVER } = process.env
if (!POOL_PYTHON || !POOL_SERVER) {
  throw new Error(
    'BIZRA_POOL_PYTHON and BIZRA_POOL_SERVER are not set: run `make pool-server` (make exports them; ' +
      'by hand, the venv python and scripts/pool_server.py)',
  )
}
// SmolLM2's vocabulary: the server does not report it, and the SNR needs it.
const VOCAB_SIZE = 49152
// The reference server requires this key; a pool that sends another is refused.
const KEY = 'bizra-node-test-key-5f1c'
const WRONG_KEY = 'not-the-key-0e7a'

const test = (name, fn) => nodeTest(name, { timeout: 120_000 }, fn)

/** Starts the reference server; resolves to { url, stop } once it prints its base URL. */
function startServer() {
  const child = spawn(POOL_PYTHON, [POOL_SERVER, '--model', MODEL_PATH, '--api-key', KEY, '--n-ctx', '1024'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const lines = createInterface({ input: child.stdout })
  const url = new Promise((resolve, reject) => {
    child.once('error', reject)
    lines.once('line', resolve)
    lines.once('close', () => reject(new Error('the pool server exited before printing its URL (its reason is above)')))
  })
  const stop = async () => {
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGTERM'), 10_000)
    await exited
    clearTimeout(timer)
    lines.close()
  }
  return url.then(
    (u) => ({ url: u.trim(), stop }),
    async (e) => {
      child.kill('SIGTERM')
      await exited
      throw e
    },
  )
}

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort() {
  const s = createServer()
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address()
  await new Promise((resolve) => s.close(resolve))
  return port
}

let server
let model
let url
let deadUrl
before(async () => {
  ;[server, model] = await Promise.all([startServer(), Model.load(MODEL_PATH, { nCtx: 512, threads: 1 })])
  url = server.url
  deadUrl = `http://127.0.0.1:${await closedPort()}/v1`
})
after(async () => {
  await server?.stop()
  model?.dispose()
})

const id = Identity.fromSeed(new Uint8Array(32).fill(18))
const CAPITAL = 'What is the capital of France? Answer in one word.'
const LONG = 'Write a long story about a dragon.'
const greedy = { temperature: 0, maxTokens: 8 }
const pool = () => Pool.connect({ baseUrl: url, apiKey: KEY, vocabSize: VOCAB_SIZE, maxRetries: 1 })
// Unavailable at once: nothing listens there, no retry, short timeouts.
const dead = () => Pool.connect({ baseUrl: deadUrl, apiKey: KEY, maxRetries: 0, connectTimeout: 0.5, readTimeout: 2 })

const kind = (k, check) => (e) => {
  assert.ok(e instanceof BizraError, `expected BizraError, got ${e}`)
  assert.equal(e.kind, k, e.message)
  check?.(e)
  return true
}
const typeError = (re) => (e) => {
  assert.ok(e instanceof TypeError, `expected TypeError, got ${e}`)
  assert.match(e.message, re)
  return true
}

/** Reads a stream to its end; resolves to [pieces, envelope]. */
async function drain(stream) {
  const pieces = []
  let last
  for await (const item of stream) {
    if (typeof item === 'string') pieces.push(item)
    else last = item
  }
  assert.ok(last instanceof Envelope, 'the stream ends with the envelope')
  return [pieces, last]
}

test('a pool request is signed, verifies, and records its route: served by the pool, at the pool tier', async () => {
  const gw = new Gateway({ edge: model, pools: [pool()] })
  const env = await gw.generate(id, CAPITAL, { ...greedy, tier: 'pool' })
  assert.ok(env instanceof Envelope)
  env.verify()
  Envelope.parse(env.toJson()).verify()
  assert.equal(env.sender, id.nodeId)
  const p = env.payload
  assert.equal(p.type, 'bizra.inference')
  assert.equal(p.tier, 'pool')
  assert.equal(p.route.served, 'pool')
  assert.equal(p.route.tier, 'pool')
  assert.equal(p.route.forced, true)
  assert.equal(p.route.backend, url)
  assert.deepEqual(p.route.fallbacks, [])
  assert.deepEqual(p.route.skipped, [])
  assert.equal(p.backend.kind, 'openai-compatible')
  assert.equal(p.backend.base_url, url)
  assert.equal(typeof p.output, 'string')
  assert.ok(p.output.length > 0)
  // vocabSize given: the SNR is measured from the server's logprobs.
  assert.equal(p.scores.snr.value, env.scores.snr)
  assert.ok(env.scores.snr >= 0 && env.scores.snr <= 1, String(env.scores.snr))
  assert.ok(!env.toJson().includes(KEY), 'the key is in the envelope')
})

test('a pool stream yields the pieces of the signed output, then the envelope', async () => {
  const gw = new Gateway({ pools: [pool()] })
  const stream = gw.stream(id, CAPITAL, { ...greedy, tier: 'pool' })
  assert.ok(stream instanceof TokenStream)
  const [pieces, env] = await drain(stream)
  env.verify()
  assert.ok(pieces.length > 0)
  assert.equal(pieces.join(''), env.payload.output)
  assert.equal(env.payload.route.served, 'pool')
  assert.equal((await stream.envelope()).id, env.id)
})

test('an AbortSignal stops a pool stream with the answer so far, signed, without falling back', async () => {
  const gw = new Gateway({ edge: model, pools: [pool()], fallbacks: [{ from: 'pool', to: 'edge' }] })
  const controller = new AbortController()
  let n = 0
  let last
  for await (const item of gw.stream(id, LONG, { temperature: 0, maxTokens: 200, tier: 'pool', signal: controller.signal })) {
    if (typeof item === 'string') {
      if (++n === 3) controller.abort()
    } else last = item
  }
  assert.ok(last instanceof Envelope)
  last.verify()
  assert.equal(last.payload.finish_reason, 'cancelled')
  assert.equal(last.payload.route.served, 'pool')
  assert.deepEqual(last.payload.route.fallbacks, [])
})

test('a pool on a closed port falls back to Edge when a rule says so, recording the cause', async () => {
  const gw = new Gateway({ edge: model, pools: [dead()], fallbacks: [{ from: 'pool', to: 'edge' }] })
  const started = Date.now()
  const env = await gw.generate(id, CAPITAL, { ...greedy, tier: 'pool' })
  assert.ok(Date.now() - started < 30_000)
  env.verify()
  const p = env.payload
  assert.equal(p.tier, 'edge')
  assert.equal(p.route.tier, 'pool')
  assert.equal(p.route.served, 'edge')
  assert.equal(p.route.backend, 'embedded')
  assert.equal(p.backend, undefined, "an engine's payload has no remote backend")
  assert.equal(p.route.fallbacks.length, 1)
  const [step] = p.route.fallbacks
  assert.equal(step.from, 'pool')
  assert.equal(step.to, 'edge')
  assert.equal(step.cause, 'REMOTE_UNAVAILABLE')
  assert.match(step.detail, new RegExp(deadUrl.replace(/[.]/g, '\\.')))
  assert.match(p.output, /Paris/)
})

test('without the fallback, a pool on a closed port rejects with REMOTE_UNAVAILABLE naming its endpoint', async () => {
  const gw = new Gateway({ edge: model, pools: [dead()] })
  await assert.rejects(
    gw.generate(id, CAPITAL, { ...greedy, tier: 'pool' }),
    kind('REMOTE_UNAVAILABLE', (e) => {
      assert.equal(e.code, 'REMOTE_UNAVAILABLE')
      assert.equal(e.endpoint, deadUrl)
      assert.equal(e.status, undefined, 'it never answered')
      assert.equal(e.retryable, false)
      assert.doesNotMatch(e.message, /\u001f/)
      assert.ok(!e.message.includes(KEY))
    }),
  )
  // A stream ends with the same error.
  const stream = gw.stream(id, CAPITAL, { ...greedy, tier: 'pool' })
  await assert.rejects(drain(stream), kind('REMOTE_UNAVAILABLE', (e) => assert.equal(e.endpoint, deadUrl)))
})

test('pools are tried in order: one unavailable is skipped, recorded, and the next serves', async () => {
  const gw = new Gateway({ pools: [dead(), pool()] })
  assert.deepEqual(gw.pools, [deadUrl, url])
  const env = await gw.generate(id, CAPITAL, { ...greedy, tier: 'pool' })
  env.verify()
  const { route } = env.payload
  assert.equal(route.served, 'pool')
  assert.equal(route.backend, url)
  assert.equal(route.skipped.length, 1)
  assert.equal(route.skipped[0].backend, deadUrl)
  assert.deepEqual(route.fallbacks, [])
})

test('a wrong key is REMOTE_REFUSED with the HTTP status, never falls back, and is never shown', async () => {
  const wrong = Pool.connect({ baseUrl: url, apiKey: WRONG_KEY, maxRetries: 0 })
  assert.ok(!String(wrong).includes(WRONG_KEY))
  const gw = new Gateway({ edge: model, pools: [wrong], fallbacks: [{ from: 'pool', to: 'edge' }] })
  await assert.rejects(
    gw.generate(id, CAPITAL, { ...greedy, tier: 'pool' }),
    kind('REMOTE_REFUSED', (e) => {
      assert.equal(e.endpoint, url)
      assert.equal(e.status, 401)
      assert.ok(!e.message.includes(WRONG_KEY), e.message)
      assert.ok(!e.message.includes(KEY), e.message)
    }),
  )
})

test('a forced Edge tier is served by the engine, even with a pool at hand', async () => {
  const gw = new Gateway({ edge: model, pools: [pool()] })
  const env = await gw.generate(id, CAPITAL, { ...greedy, tier: 'edge' })
  env.verify()
  const p = env.payload
  assert.equal(p.tier, 'edge')
  assert.equal(p.route.tier, 'edge')
  assert.equal(p.route.forced, true)
  assert.equal(p.route.served, 'edge')
  assert.equal(p.route.backend, 'embedded')
  assert.equal(p.backend, undefined)
  assert.match(p.output, /Paris/)
  // A model given for the Local tier serves it, and a Model itself ignores the forced tier.
  const local = await new Gateway({ local: model }).generate(id, CAPITAL, { ...greedy, tier: 'local' })
  assert.equal(local.payload.route.served, 'local')
  assert.equal(local.payload.tier, 'local')
  assert.equal((await model.generate(id, CAPITAL, { ...greedy, tier: 'pool' })).payload.tier, 'edge')
})

test("decide names the tier without generating; a tier without a backend is the core's error", async () => {
  const gw = new Gateway({ edge: model })
  const d = gw.decide(CAPITAL, { maxTokens: 8 })
  assert.equal(d.tier, 'edge')
  assert.equal(d.forced, false)
  assert.equal(typeof d.complexity, 'string')
  assert.equal(typeof d.reason, 'string')
  const forced = gw.decide(CAPITAL, { tier: 'pool' })
  assert.deepEqual([forced.tier, forced.forced], ['pool', true])
  await assert.rejects(gw.generate(id, CAPITAL, { ...greedy, tier: 'pool' }), kind('NO_REMOTE_POOL'))
  await assert.rejects(gw.generate(id, CAPITAL, { ...greedy, tier: 'local' }), kind('MODEL_NOT_FOUND'))
})

test('a pool reports its health; its key is never shown', async () => {
  const p = pool()
  assert.equal(p.baseUrl, url)
  assert.equal(String(p), `Pool(baseUrl="${url}")`)
  assert.deepEqual(await p.health(), { state: 'ready' })
  const h = await dead().health()
  assert.equal(h.state, 'unavailable')
  assert.match(h.detail, /127\.0\.0\.1/)
  // A bare root gets /v1.
  assert.equal(Pool.connect({ baseUrl: url.replace(/\/v1$/, '') }).baseUrl, url)
})

test('maxInFlight bounds a pool: with 1, a request while one runs rejects at once with BUSY', async () => {
  assert.throws(
    () => Pool.connect({ baseUrl: url, maxInFlight: 0 }),
    kind('INVALID_INPUT', (e) => assert.match(e.message, /max_in_flight/)),
  )
  const gw = new Gateway({ pools: [Pool.connect({ baseUrl: url, apiKey: KEY, vocabSize: VOCAB_SIZE, maxInFlight: 1 })] })
  const stream = gw.stream(id, LONG, { temperature: 0, maxTokens: 400, tier: 'pool' })
  // A piece arrived: the one request the pool may run is running, so the next is refused at once
  // (the gateway's only pool is busy, and nothing falls back).
  assert.equal(typeof (await stream.next()).value, 'string')
  await assert.rejects(
    gw.generate(id, CAPITAL, { ...greedy, tier: 'pool' }),
    kind('BUSY', (e) => assert.match(e.message, /in flight/)),
  )
  stream.cancel()
  assert.equal((await stream.envelope()).payload.finish_reason, 'cancelled')
  // The slot is given back before the stream's end is handed over: taken at once.
  const env = await gw.generate(id, CAPITAL, { ...greedy, tier: 'pool' })
  assert.equal(env.payload.route.served, 'pool')
})

test('bad configurations and options are refused, by name', () => {
  // The core's rules.
  assert.throws(() => new Gateway({ edge: model, fallbacks: [{ from: 'pool', to: 'pool' }] }), kind('INVALID_INPUT'))
  assert.throws(
    () => new Gateway({ edge: model, fallbacks: [{ from: 'pool', to: 'edge' }, { from: 'pool', to: 'local' }] }),
    kind('INVALID_INPUT'),
  )
  assert.throws(() => Pool.connect({ baseUrl: url, connectTimeout: 0 }), kind('INVALID_INPUT'))
  assert.throws(() => Pool.connect({ baseUrl: url, topLogprobs: 21 }), kind('INVALID_INPUT'))
  assert.throws(() => Pool.connect({ baseUrl: 'ftp://example' }), kind('INVALID_INPUT'))
  // The binding's: types and names.
  assert.throws(() => Pool.connect({ baseUrl: url, apikey: KEY }), typeError(/unknown option apikey \(did you mean apiKey\?\)/))
  assert.throws(() => Pool.connect({ apiKey: KEY }), typeError(/baseUrl is required/))
  assert.throws(() => Pool.connect(), typeError(/options must be an object/))
  assert.throws(() => Pool.connect({ baseUrl: url, readTimeout: -1 }), typeError(/readTimeout/))
  assert.throws(() => new Gateway({ pool: [] }), typeError(/unknown option pool \(did you mean pools\?\)/))
  assert.throws(() => new Gateway({ pools: [url] }), typeError(/pools\[0\] must be a Pool/))
  assert.throws(() => new Gateway({ edge: url }), typeError(/edge must be a Model/))
  assert.throws(() => new Gateway({ fallbacks: [{ from: 'pool', too: 'edge' }] }), typeError(/fallbacks\[0\]\.too \(did you mean fallbacks\[0\]\.to\?\)/))
  assert.throws(() => new Gateway({ fallbacks: [{ from: 'pool' }] }), typeError(/fallbacks\[0\]\.to is required/))
  assert.throws(() => new Gateway({ fallbacks: [{ from: 'cloud', to: 'edge' }] }), typeError(/unknown model tier "cloud"/))
  const gw = new Gateway({ edge: model })
  assert.throws(() => gw.decide(CAPITAL, { tier: 'cloud' }), typeError(/unknown model tier/))
  assert.throws(() => gw.decide(CAPITAL, { teir: 'edge' }), typeError(/did you mean tier\?/))
  assert.throws(() => gw.generate(id, CAPITAL, { tier: 5 }), TypeError)
})
