// The autopoiesis store through the binding: the core decides; these tests check that its rules,
// records and errors reach JavaScript intact, and that the real model embeds through it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { BizraError, Envelope, Identity, Model, ReplayCache, Store } from 'bizra'

const MODEL_PATH = process.env.BIZRA_TEST_MODEL || join(homedir(), '.cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf')
if (!existsSync(MODEL_PATH)) {
  throw new Error(`the test model is missing at ${MODEL_PATH}: run \`make model\` (or set BIZRA_TEST_MODEL)`)
}
const id = Identity.fromSeed(new Uint8Array(32).fill(7))
const pattern = (content) => Envelope.create(id, { type: 'bizra.pattern', content })
const code = (c, re) => (e) => {
  assert.ok(e instanceof BizraError, `expected BizraError, got ${e}`)
  assert.equal(e.code, c, e.message)
  if (re) assert.match(e.message, re)
  return true
}

test('learn, recall, feedback, local elevation and bad input', () => {
  const store = Store.memory()
  assert.equal(typeof store[Symbol.dispose], 'function') // `using store = ...` closes it
  assert.equal(store.path, ':memory:')
  assert.equal(store.dimension, null)
  const a = pattern('water boils at 100 C')
  const first = store.learn(a, [0.6, 0.8, 0], ['physics'])
  assert.equal(first.learned, 'new')
  assert.equal(store.dimension, 3)
  assert.deepEqual(store.learn(pattern('water boils at 100 C'), new Float32Array([0.6, 0.8, 0])), { id: first.id, learned: 'observed' })
  assert.deepEqual(store.learn(a, [0.6, 0.8, 0]), { id: first.id, learned: 'alreadyKnown' })
  const salt = store.learn(pattern('salt dissolves'), [0, 0, 1]).id

  const hits = store.recall([0.5, 0.8, 0.1], { k: 1 })
  assert.deepEqual(hits.map((h) => h.id), [first.id])
  assert.equal(hits[0].content, 'water boils at 100 C')
  assert.deepEqual(hits[0].tags, ['physics'])
  assert.equal(hits[0].observations, 2)
  assert.ok(hits[0].similarity > 0.99)
  assert.deepEqual(store.recall([0.5, 0.8, 0.1], { threshold: 0.995 }), [])
  assert.throws(() => store.recall([1, 0, 0], { kk: 1 }), (e) => e instanceof TypeError && /unknown option kk/.test(e.message))

  assert.ok(Math.abs(store.feedback(first.id, true) - 0.55) < 1e-12)
  assert.ok(Math.abs(store.feedback(first.id, false) - 0.52) < 1e-12)
  assert.equal(store.get(first.id).positive, 1)
  assert.equal(store.get(9999), null)
  assert.throws(() => store.feedback(9999, true), code('INVALID_INPUT', /no pattern with id 9999/))

  const third = pattern('a third')
  assert.throws(() => store.learn(third, [1, 0]), code('INVALID_INPUT', /2 dimensions/))
  assert.throws(() => store.learn(third, [NaN, 0, 1]), code('INVALID_INPUT'))
  assert.throws(() => store.learn(Envelope.create(id, { type: 'bizra.note' }), [1, 0, 0]), code('INVALID_INPUT', /cannot learn/))
  const cache = new ReplayCache()
  store.learn(third, [1, 0, 0], [], { replay: cache })
  assert.throws(() => store.learn(third, [1, 0, 0], [], { replay: cache }), code('REPLAY'))
  assert.equal(store.size, 3)
  assert.deepEqual(store.patterns().map((p) => p.id), [first.id, salt, store.patterns()[2].id])

  assert.deepEqual(store.elevateLocal(), [])
  assert.deepEqual(store.elevateLocal({ threshold: 0.5, minObservations: 2 }), [first.id])
  assert.deepEqual(store.elevated().map((p) => p.elevation.kind), ['local'])
  store.close()
  assert.throws(() => store.size, code('INVALID_INPUT', /closed/))
})

test('preferences: reinforcement, a new value on its own, the system prompt', () => {
  const store = Store.memory()
  assert.equal(store.preference('style', 'tone'), null)
  let c = 0
  for (let i = 0; i < 6; i++) c = store.observePreference('style', 'tone', 'concise')
  assert.ok(Math.abs(c - 0.704755) < 1e-6)
  assert.equal(store.observePreference('style', 'tone', 'verbose'), 0.5)
  assert.equal(store.preference('style', 'tone').value, 'concise')
  assert.deepEqual(store.activePreferences().map((p) => p.value), ['concise'])
  assert.equal(store.applyPreferences('You are helpful.'), 'You are helpful.\n\nUser preferences:\n- style.tone: concise')
  assert.equal(store.applyPreferences(), 'User preferences:\n- style.tone: concise')
  assert.throws(() => store.observePreference('', 'tone', 'x'), code('INVALID_INPUT', /must not be empty/))
})

test('export, import, a file store reopened, a tampered line refused with nothing written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bizra-store-'))
  try {
    const path = join(dir, 'memory.sqlite')
    let text
    {
      const store = await Store.open(path)
      store.learn(pattern('first'), [1, 0])
      store.learn(pattern('second'), [0, 1])
      text = store.exportJsonl(id)
      store[Symbol.dispose]()
    }
    assert.equal(text.trim().split('\n').length, 2)
    {
      const reopened = await Store.open(path)
      assert.deepEqual(reopened.recall([0, 1], { k: 1 }).map((h) => h.content), ['second'])
      reopened.close()
    }
    const other = await Store.open(join(dir, 'other.sqlite'))
    assert.deepEqual(other.importJsonl(text), { lines: 2, added: 2, observed: 0, alreadyKnown: 0 })
    assert.equal(other.importJsonl(text).alreadyKnown, 2)
    other.close()

    const [l1, l2] = text.trim().split('\n')
    const fresh = Store.memory()
    assert.throws(() => fresh.importJsonl(`${l1}\n${l2.replace('"second"', '"Second"')}\n`), code('HASH_MISMATCH', /import line 2/))
    assert.equal(fresh.size, 0)

    const notAStore = join(dir, 'patterns.jsonl')
    writeFileSync(notAStore, text)
    await assert.rejects(Store.open(notAStore), code('IO'))
    assert.equal(readFileSync(notAStore, 'utf8'), text)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('learning and recalling with the model', async () => {
  const model = await Model.load(MODEL_PATH, { nCtx: 512, threads: 1 })
  const store = Store.memory()
  const texts = [
    'The cat is sleeping on the sofa.',
    'Paris is the capital of France.',
    'Quantum computers use qubits.',
    'The recipe needs two cups of flour.',
  ]
  for (const t of texts) assert.equal((await store.learnWith(model, pattern(t))).learned, 'new')
  assert.equal(store.dimension, (await model.embed(texts[0])).length)
  let hits = await store.recallText(model, 'A cat naps on the couch.', { k: 2, threshold: -1 })
  assert.equal(hits[0].content, texts[0])
  assert.ok(hits[0].similarity > hits[1].similarity)
  hits = await store.recallText(model, "France's capital city is Paris.", { k: 1, threshold: -1 })
  assert.equal(hits[0].content, texts[1])
  // A refused envelope rejects before anything is embedded or written.
  const cache = new ReplayCache()
  const once = pattern('once')
  await store.learnWith(model, once, [], { replay: cache })
  await assert.rejects(store.learnWith(model, once, [], { replay: cache }), code('REPLAY'))
  assert.equal(store.size, 5)
  assert.throws(() => store.learnWith(model, pattern('x'), [], { now: 'yesterday' }), TypeError) // checked before anything starts
  model.dispose()
})
