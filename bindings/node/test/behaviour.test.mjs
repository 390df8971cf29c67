// The behaviour tests of the core, through the Node API.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import * as bizra from 'bizra'
import {
  BizraError, Constitution, DEFAULT_TTL_SECONDS, Envelope, GateChain, HardwareProfile, Identity,
  REJECT_CODES, ReplayCache, estimateComplexity, selectTier, verifyBatch, verifyMessage,
} from 'bizra'

const T0 = new Date('2026-01-30T00:00:00.000Z')
const at = (s) => new Date(T0.getTime() + s * 1000)
const id = Identity.fromSeed(new Uint8Array(32).fill(7))
const good = (payload = { answer: 4 }, opts = {}) =>
  Envelope.create(id, payload, { scores: { snr: 0.93, ihsan: 0.97 }, timestamp: T0, ...opts })

const rejects = (code) => (e) => {
  assert.ok(e instanceof BizraError, `expected BizraError, got ${e}`)
  assert.ok(e instanceof Error)
  assert.equal(e.code, code, e.message)
  assert.equal(e.reject, REJECT_CODES[code])
  return true
}
const bizraCode = (code) => (e) => {
  assert.ok(e instanceof BizraError, `expected BizraError, got ${e}`)
  assert.equal(e.code, code, e.message)
  return true
}
const typeError = (re) => (e) => {
  assert.ok(e instanceof TypeError, `expected TypeError, got ${e}`)
  if (re) assert.match(e.message, re)
  return true
}

test('the package loads through require and import alike', () => {
  const req = createRequire(import.meta.url)
  const cjs = req('bizra')
  assert.equal(cjs.Identity, bizra.Identity)
  assert.equal(typeof bizra.version(), 'string')
  assert.equal(REJECT_CODES.HASH_MISMATCH, 15)
  assert.equal(REJECT_CODES.GATE_CUSTOM, 24)
})

test('identity: generate, sign, verify; secrets stay out of strings', () => {
  const a = Identity.generate()
  const b = Identity.generate()
  assert.notEqual(a.nodeId, b.nodeId)
  assert.match(a.nodeId, /^[0-9a-f]{32}$/)
  assert.equal(a.publicKey.length, 32)
  const sig = a.sign(Buffer.from('hello'))
  assert.ok(Buffer.isBuffer(sig))
  assert.equal(sig.length, 64)
  assert.equal(verifyMessage(a.publicKey, Buffer.from('hello'), sig), true)
  assert.equal(verifyMessage(b.publicKey, Buffer.from('hello'), sig), false)
  assert.equal(verifyMessage(a.publicKey.subarray(0, 31), Buffer.from('hello'), sig), false)
  assert.equal(verifyMessage(new Uint8Array(32), Buffer.from('hello'), sig), false) // small-order key
  assert.equal(verifyMessage('not hex', Buffer.from('hello'), sig), false)
  assert.equal(String(a), `Identity(${a.displayId})`)
  assert.ok(!JSON.stringify(a).includes(a.toPem().slice(30, 60)))
})

test('identity: PEM plain and encrypted, save and load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bizra-node-'))
  try {
    const a = Identity.generate()
    assert.match(a.toPem(), /^-----BEGIN PRIVATE KEY-----/)
    const enc = a.toPem('correct horse')
    assert.match(enc, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/)
    assert.equal(Identity.fromPem(enc, 'correct horse').nodeId, a.nodeId)
    assert.throws(() => Identity.fromPem(enc, 'wrong'), bizraCode('KEY'))
    assert.throws(() => Identity.fromPem(enc), bizraCode('KEY'))
    assert.throws(() => Identity.fromPem('garbage'), bizraCode('KEY'))
    const path = join(dir, 'keys', 'node.pem')
    a.save(path, 'pw')
    assert.equal(statSync(path).mode & 0o777, 0o600)
    assert.equal(Identity.load(path, 'pw').nodeId, a.nodeId)
    // An existing key file is refused (a lost key cannot be recovered), unless overwrite is asked.
    const other = Identity.generate()
    assert.throws(() => other.save(path), (e) => bizraCode('IO')(e) && /already exists/.test(e.message))
    assert.equal(Identity.load(path, 'pw').nodeId, a.nodeId)
    assert.throws(() => other.save(path, null, { overwrite: 'yes' }), typeError(/overwrite/))
    other.save(path, null, { overwrite: true })
    assert.equal(Identity.load(path).nodeId, other.nodeId)
    assert.throws(() => Identity.load(join(dir, 'missing.pem')), bizraCode('IO'))
    assert.throws(() => Identity.fromSeed(new Uint8Array(31)), bizraCode('INVALID_INPUT'))
    assert.throws(() => Identity.fromSeed('00'.repeat(32)), typeError())
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('envelope: create, serialize, parse, verify', () => {
  const env = Envelope.create(id, { answer: 4, list: [1, 2.5, 'x', null, true] }, { scores: { snr: 0.9, ihsan: 0.99 } })
  env.verify()
  assert.match(env.id, /^pci_[0-9a-f]{32}$/)
  assert.equal(env.sender, id.nodeId)
  assert.equal(env.ttl, DEFAULT_TTL_SECONDS)
  assert.equal(env.policy, Constitution.default().hash)
  assert.ok(env.timestamp instanceof Date)
  assert.equal(env.expiresAt.getTime() - env.timestamp.getTime(), DEFAULT_TTL_SECONDS * 1000)
  const back = Envelope.parse(env.toJson())
  assert.equal(back.toJson(), env.toJson())
  back.verify()
  for (const payload of [null, true, 0, -1.5, 'text', [], {}, { nested: { deep: [[[]]] } }]) {
    assert.deepEqual(Envelope.create(id, payload).payload, payload)
  }
  assert.equal(Envelope.create(id, -0).toJson().includes('"payload":0,'), true)
})

test('envelope: verification steps and their codes', () => {
  const env = good()
  env.verify({ now: T0 })
  env.verify({ now: at(DEFAULT_TTL_SECONDS) })
  assert.throws(() => env.verify({ now: at(DEFAULT_TTL_SECONDS + 0.001) }), rejects('EXPIRED'))
  assert.throws(() => env.verify({ now: at(-121) }), rejects('FUTURE'))
  env.verify({ now: at(-120) })
  env.verify({ now: T0, policy: Constitution.default().hash })
  assert.throws(() => env.verify({ now: T0, policy: 'ab'.repeat(32) }), rejects('POLICY_MISMATCH'))
  const wire = JSON.parse(env.toJson())
  const tampered = (f) => {
    const w = structuredClone(wire)
    f(w)
    return JSON.stringify(w)
  }
  assert.throws(() => Envelope.parse(tampered((w) => { w.payload.answer = 5 })).verify({ now: T0 }), rejects('HASH_MISMATCH'))
  assert.throws(() => Envelope.parse(tampered((w) => { w.ttl = 60 })).verify({ now: T0 }), rejects('SIGNATURE'))
  assert.throws(() => Envelope.parse(tampered((w) => { w.ttl = 0 })).verify({ now: T0 }), rejects('TTL_RANGE'))
  assert.throws(() => Envelope.parse(tampered((w) => { w.sender = '0'.repeat(32) })).verify({ now: T0 }), rejects('SENDER_MISMATCH'))
  assert.throws(() => Envelope.parse(tampered((w) => { delete w.signature })), rejects('MISSING_FIELD'))
  assert.throws(() => Envelope.parse(tampered((w) => { w.extra = 1 })), rejects('SCHEMA'))
  assert.throws(() => Envelope.parse('not json'), rejects('SCHEMA'))
  assert.throws(() => Envelope.parse('{"a":1,"a":2}'), rejects('SCHEMA'))
  assert.throws(() => Envelope.parse('"\ud800"'), rejects('SCHEMA')) // a lone surrogate in the text
  assert.throws(() => Envelope.parse(new Uint8Array([0x22, 0xff, 0x22])), rejects('SCHEMA'))
  assert.throws(() => Envelope.parse(42), typeError())
})

test('envelope: create options are checked', () => {
  assert.equal(good({}, { ttl: 60 }).ttl, 60)
  const prov = ['pci_' + '0'.repeat(32)]
  assert.deepEqual(good({}, { provenance: prov }).provenance, prov)
  assert.equal(good({}, { id: 'pci_' + 'a'.repeat(32) }).id, 'pci_' + 'a'.repeat(32))
  assert.throws(() => good({}, { ttl: 0 }), bizraCode('INVALID_INPUT'))
  assert.throws(() => good({}, { ttl: 3601 }), bizraCode('INVALID_INPUT'))
  assert.throws(() => good({}, { ttl: 1.5 }), typeError(/ttl/))
  assert.throws(() => good({}, { ttl: '60' }), typeError(/ttl/))
  assert.throws(() => good({}, { scores: { snr: 1.5 } }), bizraCode('INVALID_INPUT'))
  assert.throws(() => good({}, { provenance: ['nope'] }), bizraCode('INVALID_INPUT'))
  assert.throws(() => good({}, { provenance: 'nope' }), typeError())
  assert.throws(() => good({}, { policy: 'XYZ' }), typeError(/policy/))
  assert.throws(() => good({}, { timestamp: '2026-01-30' }), typeError(/Date/))
  assert.throws(() => good({}, { timestamp: new Date(NaN) }), typeError(/invalid Date/))
  assert.throws(() => good({}, { id: 'x' }), bizraCode('INVALID_INPUT'))
  for (const notIdentity of [{}, null, undefined, Envelope.create(id, 1), Object.create(Identity.prototype)]) {
    assert.throws(() => Envelope.create(notIdentity, {}), typeError(/identity must be an Identity/))
  }
  assert.throws(() => Envelope.create(id, {}, 5), typeError(/options/))
})

test('bad payloads throw TypeError naming what is wrong', () => {
  const cyclic = { a: [] }
  cyclic.a.push(cyclic)
  let deep = []
  for (let i = 0; i < 200; i++) deep = [deep]
  let ok = []
  for (let i = 1; i < 128; i++) ok = [ok]
  const cases = [
    [undefined, /undefined/],
    [{ a: undefined }, /payload\.a: undefined/],
    [{ a: 1n }, /BigInt/],
    [[1, () => 1], /payload\[1\]: a function/],
    [{ s: Symbol('x') }, /symbol/],
    [NaN, /NaN/],
    [{ x: Infinity }, /Infinity/],
    [{ x: -Infinity }, /Infinity/],
    [cyclic, /cyclic/],
    [deep, /deeper than 128/],
    [{ s: 'a\ud800b' }, /lone surrogate/],
    [{ ['\udc00']: 1 }, /lone surrogate/],
    [new Map(), /Map/],
    [new Date(), /Date/],
    [new Uint8Array(2), /Uint8Array/],
    [[, 1], /undefined/],
  ]
  for (const [payload, re] of cases) {
    assert.throws(() => Envelope.create(id, payload), typeError(re), String(re))
  }
  Envelope.create(id, ok).verify()
  Envelope.create(id, Object.create(null)).verify()
  // Integers beyond ±(2^53−1) are not I-JSON: the core refuses them.
  assert.throws(() => Envelope.create(id, { n: 2 ** 53 }), bizraCode('INVALID_INPUT'))
  assert.throws(() => Envelope.create(id, { n: -(2 ** 53) }), bizraCode('INVALID_INPUT'))
  Envelope.create(id, { n: 2 ** 53 - 1, m: -(2 ** 53 - 1), f: 0.1 }).verify()
})

test('JSON payloads cross intact: non-ASCII text, surrogate pairs, nesting, re-entrant getters', () => {
  const payload = { 'ключ': 'значение', emoji: 'a\u{1F600}b', e: '\u00e9', nested: [{ x: [1, -0.5, null, true, false] }], '': '' }
  const env = Envelope.create(id, payload)
  assert.deepEqual(env.payload, payload)
  env.verify()
  // A getter that signs another envelope while the payload is being read.
  const inner = {}
  const outer = { get a() { inner.env = Envelope.create(id, { b: 'inner' }); return 'outer' } }
  assert.deepEqual(Envelope.create(id, outer).payload, { a: 'outer' })
  assert.deepEqual(inner.env.payload, { b: 'inner' })
  // A surrogate pair split across two strings is two lone surrogates.
  assert.throws(() => Envelope.create(id, ['\ud83d', '\ude00']), typeError(/payload\[0\]: a string holds a lone surrogate/))
})

test('the addon refuses a hand-made JSON tape with an error, never a crash', () => {
  // The addon itself, as a caller bypassing index.js would reach it.
  const pkg = createRequire(createRequire(import.meta.url).resolve('bizra'))
  const native = pkg(`./bizra.${process.platform}-${process.arch}-gnu.node`)
  const create = native.__envelopeCreate()
  for (const [text, tape] of [
    ['', new Float64Array([0, 99])],
    ['ab', new Float64Array([2, 4, 5])],
    ['ab', new Float64Array([1, 4, 1])],
    ['', new Float64Array([0, 5, 1e12])],
    ['', new Float64Array([0, 6, -1])],
    ['', new Float64Array([NaN])],
    ['', new Float64Array(0)],
    ['x', [1, 4, 1]],
    [5, new Float64Array([0, 0])],
  ]) {
    assert.throws(() => create(id, text, tape), (e) => e.code === 'TYPE_ERROR' && /payload/.test(e.message), String(tape))
  }
})

test('replay cache: verify records, a second admission is a replay, a full cache refuses', () => {
  const cache = new ReplayCache(2)
  assert.equal(cache.capacity, 2)
  const env = good()
  env.verify({ now: T0, replay: cache })
  assert.equal(cache.size, 1)
  assert.equal(cache.has(env.id, T0), true)
  assert.throws(() => env.verify({ now: T0, replay: cache }), rejects('REPLAY'))
  good().verify({ now: T0, replay: cache })
  assert.throws(() => good().verify({ now: T0, replay: cache }), rejects('QUOTA'))
  cache.purgeExpired(at(3601))
  assert.equal(cache.size, 0)
  assert.equal(cache.has(env.id, at(3601)), false)
  cache.admit('pci_' + '1'.repeat(32), at(10), T0)
  assert.throws(() => cache.admit('pci_' + '1'.repeat(32), at(10), T0), rejects('REPLAY'))
  assert.throws(() => env.verify({ now: T0, replay: {} }), typeError(/ReplayCache/))
  assert.throws(() => new ReplayCache('x'), typeError())
})

test('verifyBatch: a Promise of codes, each the single verdict', async () => {
  const envs = []
  for (let i = 0; i < 20; i++) envs.push(good({ i }))
  const wire = JSON.parse(envs[3].toJson())
  wire.payload = { i: 'tampered' }
  envs[3] = Envelope.parse(JSON.stringify(wire))
  const p = verifyBatch(envs, { now: T0 })
  assert.ok(p instanceof Promise)
  const codes = await p
  assert.equal(codes.length, 20)
  assert.deepEqual(codes, envs.map((_, k) => (k === 3 ? 15 : 0)))
  assert.deepEqual(await verifyBatch(envs.slice(0, 2), { now: at(4000) }), [11, 11])
  const cache = new ReplayCache()
  assert.deepEqual(await verifyBatch([envs[0], envs[0], envs[1]], { now: T0, replay: cache }), [0, 12, 0])
  assert.deepEqual(await verifyBatch([], {}), [])
  assert.deepEqual(await verifyBatch([envs[0]]), [11].map(() => (Date.now() > T0.getTime() + DEFAULT_TTL_SECONDS * 1000 ? 11 : 0)))
  assert.throws(() => verifyBatch([{}], {}), typeError())
})

test('gate chain: built-in gates and their codes', () => {
  const chain = new GateChain()
  assert.deepEqual(chain.gateNames.slice(0, 1), ['schema'])
  const r = chain.check(good(), { now: T0 })
  assert.equal(r.passed, true, JSON.stringify(r))
  assert.equal(r.code, undefined)
  // `check` observes: checking twice admits nothing, so `admit` still admits once.
  const once = good({ other: 1 }, { id: 'pci_' + 'c'.repeat(32) })
  assert.equal(chain.check(once, { now: T0 }).passed, true)
  assert.equal(chain.check(once, { now: T0 }).passed, true)
  chain.admit(once, { now: T0 })
  const replay = chain.check(once, { now: T0 })
  assert.equal(replay.reject, 12)
  assert.equal(replay.firstFailure.name, 'replay')
  assert.throws(() => replay.throwIfRefused(), (e) => rejects('REPLAY')(e) && e.kind === 'REJECTED' && /gate replay/.test(e.detail))
  assert.throws(() => chain.admit(once, { now: T0 }), rejects('REPLAY'))
  r.throwIfRefused()
  assert.equal(r.firstFailure, undefined)
  const noScores = chain.check(Envelope.create(id, {}, { timestamp: T0 }), { now: T0 })
  assert.equal(noScores.passed, false)
  assert.equal(noScores.code, 'GATE_SNR')
  assert.equal(noScores.reject, 23)
  const lowIhsan = chain.check(good({}, { scores: { snr: 0.9, ihsan: 0.5 } }), { now: T0 })
  assert.equal(lowIhsan.reject, 25)
  assert.equal(chain.check(good(), { now: at(4000) }).reject, 11)
  assert.throws(() => chain.admit(good({}, { scores: { snr: 0.1, ihsan: 0.99 } }), { now: T0 }), rejects('GATE_SNR'))
  chain.admit(good(), { now: T0 })
  const empty = GateChain.empty()
  assert.equal(empty.check(good(), { now: T0 }).reject, 50)
  assert.throws(() => empty.addBuiltin('nope'), typeError(/schema/))
  empty.addBuiltin('signature')
  assert.equal(empty.check(good(), { now: T0 }).passed, true)
})

test('gate chain: JavaScript gates', () => {
  const chain = GateChain.empty()
  chain.addBuiltin('signature')
  const seen = []
  chain.addGate('answer-is-4', 'cheap', (env, now) => {
    seen.push([env.id, now.getTime()])
    return env.payload.answer === 4 ? true : `answer must be 4, got ${env.payload.answer}`
  })
  const ok = good()
  const r = chain.check(ok, { now: T0 })
  assert.equal(r.passed, true, JSON.stringify(r))
  assert.deepEqual(seen, [[ok.id, T0.getTime()]])
  const no = chain.check(good({ answer: 5 }), { now: T0 })
  assert.equal(no.passed, false)
  assert.equal(no.code, 'GATE_CUSTOM')
  assert.equal(no.reject, 24)
  const failed = no.results.find((g) => !g.passed)
  assert.equal(failed.name, 'answer-is-4')
  assert.equal(failed.tier, 'cheap')
  assert.equal(failed.detail, 'answer must be 4, got 5')
  assert.throws(() => chain.admit(good({ answer: 5 }), { now: T0 }), (e) => rejects('GATE_CUSTOM')(e) && /answer must be 4/.test(e.message))

  // Returning nothing admits, as in every binding.
  const quiet = GateChain.empty()
  quiet.addGate('quiet', 'cheap', () => undefined)
  assert.equal(quiet.check(good(), { now: T0 }).passed, true)
  // Fail-closed: a throw, `false`, a Promise or any other value refuses.
  for (const [f, re] of [
    [() => { throw new Error('boom') }, /boom/],
    [() => false, /refused/],
    [() => 42, /fail-closed/],
    [async () => true, /fail-closed/],
  ]) {
    const c = GateChain.empty()
    c.addGate('g', 'expensive', f)
    const rep = c.check(good(), { now: T0 })
    assert.equal(rep.passed, false)
    assert.equal(rep.reject, 24)
    assert.match(rep.results[0].detail, re)
  }
  assert.throws(() => chain.addGate('g', 'slow', () => true), typeError(/tier/))
  assert.throws(() => chain.addGate('g', 'cheap', 'not a function'), typeError())

  // Report mode runs every gate.
  const all = GateChain.empty()
  all.addGate('a', 'cheap', () => 'no')
  all.addGate('b', 'medium', () => true)
  all.setReportAll(true)
  const rep = all.check(good(), { now: T0 })
  assert.deepEqual(rep.results.map((g) => [g.name, g.passed]), [['a', false], ['b', true]])
  assert.equal(typeof rep.results[0].durationMs, 'number')
})

test('gate chain: payload schema, shared replay cache, constitution', () => {
  const chain = new GateChain()
  chain.setPayloadSchema({ type: 'object', required: ['answer'] })
  assert.equal(chain.check(good({ nope: 1 }), { now: T0 }).reject, 20)
  assert.equal(chain.check(good(), { now: T0 }).passed, true)
  assert.throws(() => chain.setPayloadSchema({ type: 12 }), bizraCode('INVALID_INPUT'))
  const cache = new ReplayCache()
  chain.setReplayCache(cache)
  const env = good()
  assert.equal(chain.check(env, { now: T0 }).passed, true)
  assert.equal(cache.has(env.id, T0), false, 'check records nothing')
  chain.admit(env, { now: T0 })
  assert.equal(cache.has(env.id, T0), true)
  assert.throws(() => env.verify({ now: T0, replay: chain.replayCache }), rejects('REPLAY'))
  assert.equal(chain.constitution.hash, Constitution.default().hash)
})

test('constitution: thresholds, rules, quorum, compliance', () => {
  const c = Constitution.default()
  assert.equal(c.snrThreshold, 0.85)
  assert.equal(c.ihsanMinimum, 0.95)
  assert.equal(c.maxTtlSeconds, 3600)
  assert.equal(c.maxClockSkewSeconds, 120)
  assert.deepEqual(c.rules.map((r) => r.id), ['IHSAN_001', 'SNR_001', 'CRYPTO_001', 'PROV_001', 'BFT_001'])
  assert.equal(c.rules[3].enforcement, 'advisory')
  assert.deepEqual([1, 3, 4, 7].map((n) => Constitution.quorum(n)), [1, 3, 3, 5])
  const yes = c.check({ snr: 0.9, ihsan: 0.97, hasSignature: true, hasProvenance: false })
  assert.equal(yes.compliant, true)
  const no = c.check({ snr: 0.9, hasSignature: true, hasProvenance: true })
  assert.equal(no.compliant, false)
  assert.equal(no.rules.find((r) => r.id === 'IHSAN_001').passed, false)
  assert.throws(() => Constitution.fromJson('{}'), bizraCode('CONSTITUTION'))
  assert.throws(() => Constitution.fromJson('nope'), bizraCode('CONSTITUTION'))
  // A different constitution drives the gates and the policy.
  const text = JSON.stringify({ ...JSON.parse(vectorsConstitution()), snr_threshold: 0.95 })
  const strict = Constitution.fromJson(text)
  assert.notEqual(strict.hash, c.hash)
  const chain = new GateChain(strict)
  const rep = chain.check(good({}, { policy: strict.hash }), { now: T0 })
  assert.equal(rep.reject, 23)
})

import { constitutionText } from './helpers.mjs'
function vectorsConstitution() {
  return constitutionText
}

test('tiers and hardware', () => {
  assert.equal(estimateComplexity('hi', 10), 'simple')
  assert.equal(estimateComplexity('```code```', 10), 'complex')
  assert.equal(estimateComplexity('hi', 3000), 'expert')
  const d = selectTier('hi', 10)
  assert.deepEqual({ ...d, reason: undefined }, { complexity: 'simple', tier: 'edge', forced: false, reason: undefined })
  const f = selectTier('hi', 10, 'pool')
  assert.equal(f.tier, 'pool')
  assert.equal(f.forced, true)
  assert.throws(() => selectTier('hi', 10, 'huge'), typeError(/tier/))
  const hw = HardwareProfile.detect()
  assert.ok(hw.cpuCores >= 1)
  assert.ok(hw.logicalCpus >= hw.cpuCores)
  assert.ok(hw.ramTotalBytes > 0)
  assert.ok(Array.isArray(hw.gpus))
  assert.ok([null, 'edge', 'local'].includes(hw.maxLocalTier()))
  assert.equal(hw.canServe('pool'), false)
})

test('a Rust panic is a thrown BizraError, and the process lives on', () => {
  assert.throws(() => createRequire(import.meta.url)('bizra').__panicForTest(), (e) => {
    assert.ok(e instanceof BizraError)
    assert.equal(e.code, 'PANIC')
    assert.match(e.message, /panic/)
    return true
  })
  good().verify({ now: T0 })
})
