// The autopoiesis store through the binding: the core decides; these tests check that its rules,
// records and errors reach JavaScript intact, and that the real model embeds through it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { BizraError, Envelope, FederationDocument, Identity, Model, REJECT_CODES, ReplayCache, Store } from 'bizra'
import { VECTORS_DIR } from './helpers.mjs'

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
const close = (a, b) => Math.abs(a - b) < 1e-9

test('learn and recall by vector; the records', () => {
  const store = Store.inMemory()
  assert.equal(typeof store[Symbol.dispose], 'function') // `using store = ...` closes it
  assert.equal(store.path, ':memory:')
  assert.equal(store.dimension, null)
  const a = pattern('water boils at 100 C')
  const first = store.learn(a, [0.6, 0.8, 0], ['physics'])
  assert.equal(first.outcome, 'new')
  assert.equal(store.dimension, 3)
  assert.deepEqual(store.learn(pattern('water boils at 100 C'), new Float32Array([0.6, 0.8, 0])), { id: first.id, outcome: 'observed' })
  assert.deepEqual(store.learn(a, [0.6, 0.8, 0]), { id: first.id, outcome: 'alreadyKnown' })
  const salt = store.learn(pattern('salt dissolves'), [0, 0, 1]).id

  const hits = store.recall([0.5, 0.8, 0.1], { k: 1 })
  assert.deepEqual(hits.map((h) => h.pattern.id), [first.id])
  const p = hits[0].pattern
  assert.equal(p.content, 'water boils at 100 C')
  assert.deepEqual(p.tags, ['physics'])
  assert.equal(p.observations, 2)
  assert.equal(p.sourceNode, id.nodeId)
  assert.equal(p.envelopeId, a.id)
  assert.equal(Envelope.parse(p.envelope).id, a.id)
  assert.match(p.contentBlake3, /^[0-9a-f]{64}$/)
  assert.ok(p.embedding instanceof Float32Array && Math.abs(Math.hypot(...p.embedding) - 1) < 1e-6) // normalised by the core
  assert.ok(p.created instanceof Date && p.updated >= p.created)
  assert.equal(p.elevation, 'none')
  assert.equal(p.height, undefined)
  assert.equal(p.certificate, undefined)
  assert.ok(hits[0].similarity > 0.99 && hits[0].similarity <= 1)
  const both = store.recall([0.5, 0.8, 0.1], { threshold: -1 })
  assert.deepEqual(both.map((h) => h.pattern.id), [first.id, salt])
  assert.ok(both[0].similarity > both[1].similarity)
  assert.deepEqual(store.recall([0.5, 0.8, 0.1], { threshold: 0.995 }), [])
  assert.throws(() => store.recall([1, 0, 0], { kk: 1 }), (e) => e instanceof TypeError && /unknown option kk/.test(e.message))
  assert.deepEqual(store.patterns().map((p) => p.id), [first.id, salt])
  assert.equal(store.remove(salt), true)
  assert.equal(store.remove(salt), false)
  assert.equal(store.size, 1)
  assert.equal(store.get(salt), null)
  store.close()
  assert.throws(() => store.size, code('INVALID_INPUT', /closed/))
  store.close() // twice is harmless
})

test('feedback arithmetic: +0.05, −0.03, clamped', () => {
  const store = Store.inMemory()
  const pid = store.learn(pattern('tea is hot'), [1, 0]).id
  assert.equal(store.get(pid).confidence, 0.5)
  const steps = [1, 2, 3].map(() => store.feedback(pid, true).confidence)
  assert.ok(close(steps[0], 0.55) && close(steps[1], 0.6) && close(steps[2], 0.65), String(steps))
  const after = store.feedback(pid, false)
  assert.ok(close(after.confidence, 0.62), String(after.confidence))
  assert.deepEqual([after.positive, after.negative], [3, 1])
  let p
  for (let i = 0; i < 10; i++) p = store.feedback(pid, true)
  assert.equal(p.confidence, 1)
  for (let i = 0; i < 40; i++) p = store.feedback(pid, false)
  assert.equal(p.confidence, 0)
  assert.throws(() => store.feedback(9999, true), code('INVALID_INPUT', /no pattern with id 9999/))
})

test('bad input is refused, saying what, and loses nothing', () => {
  const store = Store.inMemory()
  store.learn(pattern('first'), [1, 0, 0])
  const third = pattern('a third')
  assert.throws(() => store.learn(third, [1, 0]), code('INVALID_INPUT', /has 2 dimensions, but this store's patterns have 3/))
  assert.throws(() => store.learn(third, [NaN, 0, 1]), code('INVALID_INPUT', /value 0 is NaN, not a finite number/))
  assert.throws(() => store.learn(third, [0, 0, 0]), code('INVALID_INPUT', /zero vector/))
  assert.throws(() => store.recall([1, 0]), code('INVALID_INPUT', /dimensions/))
  assert.throws(() => store.learn(third, [1, 'x', 0]), (e) => e instanceof TypeError && /embedding\[1\]/.test(e.message))
  assert.throws(() => store.learn(Envelope.create(id, { type: 'bizra.note' }), [1, 0, 0]), code('INVALID_INPUT', /cannot learn/))
  const cache = new ReplayCache()
  store.learn(third, [0, 1, 0], [], { replay: cache })
  assert.throws(() => store.learn(third, [0, 1, 0], [], { replay: cache }), code('REPLAY'))
  assert.deepEqual(store.patterns().map((p) => p.content), ['first', 'a third'])
})

test('preferences: reinforcement, a new value on its own, the system prompt', () => {
  const store = Store.inMemory()
  assert.equal(store.preference('style', 'tone'), null)
  assert.equal(store.applyPreferences('You are helpful.'), 'You are helpful.')
  const seen = []
  for (let i = 0; i < 6; i++) seen.push(store.observePreference('style', 'tone', 'concise'))
  assert.equal(seen[0].confidence, 0.5)
  assert.equal(seen[4].active, false)
  assert.equal(seen[5].active, true) // the sixth observation activates it
  assert.ok(seen.every((p, i) => i === 0 || p.confidence > seen[i - 1].confidence)) // reinforced
  assert.ok(Math.abs(seen[5].confidence - 0.704755) < 1e-6)
  assert.equal(seen[5].observations, 6)
  assert.equal(store.observePreference('style', 'tone', 'verbose').confidence, 0.5)
  assert.deepEqual(store.preferences().map((p) => [p.value, p.active]), [['concise', true], ['verbose', false]])
  const pref = store.preference('style', 'tone')
  assert.deepEqual([pref.kind, pref.key, pref.value], ['style', 'tone', 'concise'])
  assert.deepEqual(store.activePreferences().map((p) => p.value), ['concise'])
  assert.equal(store.applyPreferences('You are helpful.'), 'You are helpful.\n\nUser preferences:\n- style.tone: concise')
  assert.equal(store.applyPreferences(), 'User preferences:\n- style.tone: concise')
  assert.throws(() => store.observePreference('', 'tone', 'x'), code('INVALID_INPUT', /must not be empty/))
})

test('local elevation and the elevated patterns', () => {
  const store = Store.inMemory()
  const settled = store.learn(pattern('settled'), [1, 0]).id
  for (let i = 0; i < 2; i++) store.learn(pattern('settled'), [1, 0])
  const young = store.learn(pattern('young'), [0, 1]).id
  assert.deepEqual(store.elevateLocal(), []) // 3 observations, but confidence 0.5 < 0.95
  for (let i = 0; i < 9; i++) {
    store.feedback(settled, true)
    store.feedback(young, true)
  }
  assert.deepEqual(store.elevated(), [])
  assert.deepEqual(store.elevateLocal(), [settled]) // young has 1 observation of the 3 needed
  assert.deepEqual(store.elevated().map((p) => [p.id, p.elevation]), [[settled, 'local']])
  assert.deepEqual(store.elevateLocal(), []) // already elevated
  assert.deepEqual(store.elevateLocal({ threshold: 0.9, minObservations: 1 }), [young])
  assert.deepEqual(store.elevated().map((p) => p.id), [settled, young])
  // Only a federation's certificate can be checked again: a local elevation has none.
  const consensus = JSON.parse(readFileSync(join(VECTORS_DIR, 'consensus-v1-vectors.json'), 'utf8'))
  const doc = FederationDocument.fromJson(consensus.documents.equal.json)
  assert.throws(() => store.verifyElevation(settled, doc), code('INVALID_INPUT', new RegExp(`pattern ${settled} is not certified`)))
  assert.throws(() => store.verifyElevation(9999, doc), code('INVALID_INPUT', /no pattern with id 9999/))
  assert.throws(() => store.verifyElevation(settled, {}), TypeError)
  assert.throws(() => store.elevateLocal({ min_observations: 1 }), (e) => e instanceof TypeError && /minObservations/.test(e.message))
})

test('export and import between two stores; a tampered line refused with its line and code', async () => {
  const a = Store.inMemory()
  a.learn(pattern('first'), [1, 0], ['one'])
  a.learn(pattern('second'), [0, 1])
  const exported = a.exportJsonl(id)
  assert.ok(exported instanceof Promise)
  const text = await exported
  assert.equal(text.trim().split('\n').length, 2)

  const b = Store.inMemory()
  assert.deepEqual(await b.importJsonl(text), { lines: 2, new: 2, observed: 0, alreadyKnown: 0 })
  assert.deepEqual(await b.importJsonl(text), { lines: 2, new: 0, observed: 0, alreadyKnown: 2 })
  assert.deepEqual(b.patterns().map((p) => [p.content, p.tags]), [['first', ['one']], ['second', []]])
  assert.deepEqual(b.recall([0.1, 1], { k: 1 }).map((h) => h.pattern.content), ['second'])

  const [l1, l2] = text.trim().split('\n')
  const fresh = Store.inMemory()
  await assert.rejects(fresh.importJsonl(`${l1}\n${l2.replace('"second"', '"Second"')}\n`), (e) => {
    code('HASH_MISMATCH', /import line 2/)(e)
    assert.equal(e.reject, REJECT_CODES.HASH_MISMATCH)
    return true
  })
  assert.equal(fresh.size, 0) // all lines or none
  await assert.rejects(fresh.importJsonl('not json\n'), (e) => e instanceof BizraError && /import line 1/.test(e.message))
  assert.throws(() => fresh.importJsonl(text, { nwo: new Date() }), TypeError) // checked before anything starts
})

test('a file store reopened keeps everything; a file that is not a store is left untouched', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bizra-store-'))
  try {
    const path = join(dir, 'memory.sqlite')
    let before, one, two
    {
      const store = await Store.open(path)
      assert.equal(store.path, path)
      one = store.learn(pattern('first'), [1, 0], ['t']).id
      store.learn(pattern('first'), [1, 0])
      two = store.learn(pattern('second'), [0, 1]).id
      store.feedback(two, true)
      for (let i = 0; i < 6; i++) store.observePreference('format', 'lists', 'bullets')
      assert.deepEqual(store.elevateLocal({ threshold: 0.5, minObservations: 2 }), [one])
      before = store.patterns()
      store[Symbol.dispose]()
    }
    {
      const reopened = await Store.open(path)
      assert.deepEqual(reopened.patterns(), before)
      assert.equal(reopened.dimension, 2)
      assert.deepEqual(reopened.recall([0, 1], { k: 1 }).map((h) => h.pattern.id), [two])
      assert.deepEqual(reopened.elevated().map((p) => p.id), [one])
      const pref = reopened.preference('format', 'lists')
      assert.deepEqual([pref.value, pref.observations], ['bullets', 6])
      reopened.close()
    }
    const notAStore = join(dir, 'patterns.jsonl')
    writeFileSync(notAStore, 'not a database\n')
    await assert.rejects(Store.open(notAStore), code('IO'))
    assert.equal(readFileSync(notAStore, 'utf8'), 'not a database\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('learning and recalling with the model', async () => {
  const model = await Model.load(MODEL_PATH, { nCtx: 512, threads: 1 })
  const store = Store.inMemory()
  const texts = [
    'The cat is sleeping on the sofa.',
    'Paris is the capital of France.',
    'Quantum computers use qubits.',
    'The recipe needs two cups of flour.',
  ]
  const ids = []
  for (const t of texts) {
    const l = await store.learnWith(model, pattern(t))
    assert.equal(l.outcome, 'new')
    ids.push(l.id)
  }
  assert.equal(store.dimension, (await model.embed(texts[0])).length)
  // A paraphrase is recalled above every unrelated sentence.
  let hits = await store.recallText(model, 'A cat naps on the couch.', { k: 4, threshold: -1 })
  assert.equal(hits[0].pattern.id, ids[0])
  assert.ok(hits.slice(1).every((h) => hits[0].similarity > h.similarity))
  hits = await store.recallText(model, "France's capital city is Paris.", { k: 4, threshold: -1 })
  assert.equal(hits[0].pattern.content, texts[1])
  assert.ok(hits.slice(1).every((h) => hits[0].similarity > h.similarity))
  // The same text again is observed; a vector query needs no model.
  assert.equal((await store.learnWith(model, pattern(texts[2]))).outcome, 'observed')
  assert.equal(store.recall(await model.embed(texts[3]), { k: 1 })[0].pattern.id, ids[3])
  // A refused envelope rejects before anything is embedded or written.
  const cache = new ReplayCache()
  const once = pattern('once')
  await store.learnWith(model, once, [], { replay: cache })
  await assert.rejects(store.learnWith(model, once, [], { replay: cache }), code('REPLAY'))
  assert.equal(store.size, 5)
  assert.throws(() => store.learnWith(model, pattern('x'), [], { now: 'yesterday' }), TypeError) // checked before anything starts
  model.dispose()
})
