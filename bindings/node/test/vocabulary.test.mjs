// One vocabulary across the bindings: the README's table (Node column), the error-kind table,
// and the conveniences every binding offers under the same names.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import * as bizra from 'bizra'
import {
  BizraError, CERTIFICATE_CODES, Constitution, DEFAULT_REPLAY_CAPACITY, DEFAULT_TTL_SECONDS, ERROR_KINDS, Envelope,
  GateChain, GateReport, Identity, MAX_CLOCK_SKEW_SECONDS, MAX_PAYLOAD_BYTES, MAX_PROVENANCE,
  MAX_TTL_SECONDS, REJECT_CODES, ReplayCache, errorKinds, verifyBatch,
} from 'bizra'
import { VECTORS_DIR } from './helpers.mjs'

const require = createRequire(import.meta.url)
// The CommonJS entry: the test build's hooks (`__errorForTest`, ...) are there too.
const cjs = require('bizra')

const T0 = new Date('2026-01-30T00:00:00.000Z')
const id = Identity.fromSeed(new Uint8Array(32).fill(9))
const good = (payload = { answer: 4 }, opts = {}) =>
  Envelope.create(id, payload, { scores: { snr: 0.93, ihsan: 0.97 }, timestamp: T0, ...opts })
const caught = (f) => {
  try {
    f()
  } catch (e) {
    return e
  }
  assert.fail('expected a throw')
}

test('every kind of the core table is a BizraError kind, and real errors carry theirs', () => {
  const names = ERROR_KINDS.map((k) => k.name)
  assert.deepEqual(names, [
    'INVALID_INPUT', 'REJECTED', 'CERTIFICATE_REFUSED', 'EVIDENCE_REFUSED', 'KEY', 'CONSTITUTION', 'IO', 'MODEL', 'MODEL_NOT_FOUND',
    'PROMPT_TOO_LONG', 'NO_REMOTE_POOL', 'INFERENCE', 'REMOTE_UNAVAILABLE', 'REMOTE_REFUSED', 'BUSY', 'INTERNAL',
    'PANIC',
  ])
  for (const k of ERROR_KINDS) {
    assert.ok(Number.isInteger(k.number) && k.number >= 100 && k.number < 1000, k.name)
    // A refusal's code is its reject name; every other kind's code is the kind itself.
    const e = new BizraError('m', k.name, undefined, 'd')
    assert.equal(e.kind, k.name)
    assert.equal(e.detail, 'd')
    assert.equal(e.retryable, false)
  }
  assert.ok(Object.isFrozen(ERROR_KINDS))
  assert.deepEqual(errorKinds(), ERROR_KINDS.map((k) => ({ ...k })))
  assert.notEqual(errorKinds()[0], ERROR_KINDS[0], 'a fresh copy')
  const dir = mkdtempSync(join(tmpdir(), 'bizra-vocab-'))
  try {
    const cases = [
      ['INVALID_INPUT', () => Identity.fromSeed(new Uint8Array(3))],
      ['REJECTED', () => Envelope.parse('{}')],
      ['KEY', () => Identity.fromPem('garbage')],
      ['CONSTITUTION', () => Constitution.fromJson('{}')],
      ['IO', () => Identity.load(join(dir, 'missing.pem'))],
    ]
    for (const [kind, f] of cases) {
      const e = caught(f)
      assert.ok(e instanceof BizraError, `${kind}: ${e}`)
      assert.equal(e.kind, kind, e.message)
      assert.ok(names.includes(e.kind))
      assert.equal(typeof e.detail, 'string')
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const refused = caught(() => good({ a: 1 }).verify({ now: new Date(T0.getTime() + 4000e3) }))
  assert.equal(refused.kind, 'REJECTED')
  assert.equal(refused.code, 'EXPIRED')
  assert.equal(refused.reject, REJECT_CODES.EXPIRED)
  assert.equal(refused.retryable, false)
  assert.match(refused.message, /^PCI-11: /)
  assert.ok(!refused.detail.startsWith('PCI-'), refused.detail)
  const full = new ReplayCache(1)
  full.admit('pci_' + 'a'.repeat(32), new Date(T0.getTime() + 60e3), T0)
  const quota = caught(() => full.admit('pci_' + 'b'.repeat(32), new Date(T0.getTime() + 60e3), T0))
  assert.equal(quota.code, 'QUOTA')
  assert.equal(quota.retryable, true)
})

test("the README's Node column names exist", () => {
  const readme = readFileSync(process.env.BIZRA_README ?? join(VECTORS_DIR, '..', '..', 'README.md'), 'utf8')
  const section = readme.split('## One vocabulary across languages')[1].split('\n## ')[0]
  const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| concept') && !l.startsWith('|---'))
  assert.ok(rows.length >= 15, `${rows.length} rows`)
  const header = section.split('\n').find((l) => l.startsWith('| concept')).split('|').map((c) => c.trim())
  const col = header.indexOf('Node')
  assert.ok(col > 0)
  // Instances for members that live on objects rather than classes.
  const err = caught(() => Envelope.parse('{}'))
  const report = new GateChain().check(good(), { now: T0 })
  const instances = { BizraError: err, GateReport: report, Envelope: good(), Identity: id, GateChain: new GateChain(), ReplayCache: new ReplayCache() }
  let checked = 0
  for (const row of rows) {
    const cell = row.split('|').map((c) => c.trim())[col]
    for (const [, name] of cell.matchAll(/`([^`]+)`/g)) {
      const [cls, member] = name.split('.')
      const C = bizra[cls]
      assert.ok(C !== undefined, `${name}: no export ${cls}`)
      if (member !== undefined) {
        const found = member in C || (C.prototype && member in C.prototype) || (instances[cls] && member in instances[cls])
        assert.ok(found, `${name}: no member ${member}`)
      }
      checked++
    }
  }
  assert.ok(checked >= 15)
  // The check itself can fail.
  assert.equal('throwIfRefusd' in report, false)
  assert.ok(report instanceof GateReport)
})

test('Envelope.open parses and verifies in one call', () => {
  const env = good()
  const opened = Envelope.open(env.toJson(), { now: T0 })
  assert.equal(opened.id, env.id)
  assert.equal(Envelope.open(Buffer.from(env.toJson()), { now: T0 }).id, env.id)
  const tampered = env.toJson().replace('"answer":4', '"answer":5')
  assert.equal(caught(() => Envelope.open(tampered, { now: T0 })).code, 'HASH_MISMATCH')
  assert.equal(caught(() => Envelope.open('{', { now: T0 })).code, 'SCHEMA')
  const cache = new ReplayCache()
  Envelope.open(env.toJson(), { now: T0, replay: cache })
  assert.equal(caught(() => Envelope.open(env.toJson(), { now: T0, replay: cache })).code, 'REPLAY')
})

test('a replay cache holds at least one id, by the core rule', () => {
  const e = caught(() => new ReplayCache(0))
  assert.equal(e.kind, 'INVALID_INPUT')
  assert.match(e.message, /at least 1/)
  assert.equal(new ReplayCache().capacity, DEFAULT_REPLAY_CAPACITY)
})

test('provenance takes Envelopes and policy takes a Constitution, as in Python', () => {
  const parent = good()
  const c = Constitution.default()
  const child = Envelope.create(id, { re: 1 }, { provenance: [parent, 'pci_' + 'd'.repeat(32)], policy: c })
  assert.deepEqual(child.provenance, [parent.id, 'pci_' + 'd'.repeat(32)])
  assert.equal(child.policy, c.hash)
  child.verify({ policy: c })
  child.verify({ policy: c.hash })
  assert.equal(caught(() => child.verify({ policy: '0'.repeat(64) })).code, 'POLICY_MISMATCH')
  assert.throws(() => Envelope.create(id, 1, { provenance: [42] }), TypeError)
  assert.throws(() => Envelope.create(id, 1, { policy: {} }), TypeError)
  assert.throws(() => Envelope.create(id, 1, { provenance: 'pci_' + 'd'.repeat(32) }), TypeError)
})

test('user gates run after every built-in gate, so they see only authenticated envelopes', () => {
  const chain = new GateChain()
  const seen = []
  chain.addGate('look', 'cheap', (env) => {
    seen.push(env.id)
  })
  assert.deepEqual(chain.gateNames.slice(-2), ['signature', 'look'])
  const forged = Envelope.parse(good().toJson().replace('"answer":4', '"answer":5'))
  const r = chain.check(forged, { now: T0 })
  assert.equal(r.code, 'HASH_MISMATCH')
  assert.deepEqual(seen, [])
  chain.admit(good(), { now: T0 })
  assert.equal(seen.length, 1)
})

test("every kind of the core's table maps to its own kind and code, through the binding's mapping", () => {
  assert.equal(ERROR_KINDS.length, 17)
  for (const { name } of errorKinds()) {
    const e = caught(() => cjs.__errorForTest(name))
    assert.ok(e instanceof BizraError, `${name}: ${e}`)
    assert.equal(e.kind, name, e.message)
    if (name === 'REJECTED') {
      assert.equal(e.code, 'HASH_MISMATCH')
      assert.equal(e.reject, REJECT_CODES.HASH_MISMATCH)
      assert.equal(e.detail, 'a sample')
      assert.match(e.message, /^PCI-15: /)
    } else if (name === 'CERTIFICATE_REFUSED') {
      // A refused certificate's code is its refusal's name, its number in certificateCode.
      assert.equal(e.code, 'BAD_SIGNATURE')
      assert.equal(e.certificateCode, CERTIFICATE_CODES.BAD_SIGNATURE)
      assert.equal(e.reject, undefined)
      assert.equal(e.detail, 'a sample')
      assert.equal(e.message, 'certificate refused: BAD_SIGNATURE (a sample)')
      assert.equal(e.evidenceCode, undefined)
    } else if (name === 'EVIDENCE_REFUSED') {
      // Refused evidence's code is its refusal's name, its number in evidenceCode.
      assert.equal(e.code, 'NOT_CONFLICTING')
      assert.equal(e.evidenceCode, cjs.EVIDENCE_CODES.NOT_CONFLICTING)
      assert.equal(e.certificateCode, undefined)
      assert.equal(e.reject, undefined)
      assert.equal(e.detail, 'a sample')
      assert.equal(e.message, 'equivocation evidence refused: NOT_CONFLICTING (a sample)')
    } else if (name === 'REMOTE_UNAVAILABLE' || name === 'REMOTE_REFUSED') {
      // A remote pool's error names its endpoint and the HTTP status it answered with, if any.
      assert.equal(e.code, name)
      assert.equal(e.endpoint, 'http://127.0.0.1:9/v1')
      assert.equal(e.status, name === 'REMOTE_REFUSED' ? 401 : undefined)
      assert.equal(e.reject, undefined)
      assert.equal(e.message, 'remote pool: a sample')
      assert.doesNotMatch(e.message, /\u001f/)
    } else {
      assert.equal(e.code, name, e.message)
      assert.equal(e.reject, undefined)
      assert.equal(e.detail, e.message)
    }
    assert.equal(e.retryable, false)
    assert.equal(e.name, 'BizraError')
    if (name !== 'REMOTE_UNAVAILABLE' && name !== 'REMOTE_REFUSED') {
      assert.equal(e.endpoint, undefined)
      assert.equal(e.status, undefined)
    }
  }
  // No longer lumped together as INTERNAL.
  assert.equal(caught(() => cjs.__errorForTest('MODEL_NOT_FOUND')).code, 'MODEL_NOT_FOUND')
  assert.equal(caught(() => cjs.__errorForTest('NO_REMOTE_POOL')).code, 'NO_REMOTE_POOL')
  assert.match(caught(() => cjs.__errorForTest('PANIC')).message, /panic/)
  assert.match(caught(() => cjs.__errorForTest('CERTIFICATE_REFUSED')).message, /BAD_SIGNATURE/)
  assert.equal(caught(() => cjs.__errorForTest('EVIDENCE_REFUSED')).kind, 'EVIDENCE_REFUSED')
  // Node terms: the context option is `nCtx`.
  const tooLong = caught(() => cjs.__errorForTest('PROMPT_TOO_LONG'))
  assert.match(tooLong.message, /nCtx/)
  assert.doesNotMatch(tooLong.message, /n_ctx/)
})

test('a panic in a pool task or on a job thread rejects with a BizraError of kind PANIC', async () => {
  for (const hook of [cjs.__panicInTaskForTest, cjs.__panicOnThreadForTest]) {
    const p = hook()
    assert.ok(p instanceof Promise)
    await assert.rejects(p, (e) => {
      assert.ok(e instanceof BizraError, String(e))
      assert.equal(e.code, 'PANIC')
      assert.equal(e.kind, 'PANIC')
      assert.match(e.message, /deliberate panic/)
      return true
    })
  }
  // The pool still verifies.
  assert.deepEqual(await verifyBatch([good()], { now: T0 }), [0])
})

test('the typings list every error kind, reject name and refusal name', () => {
  const dts = readFileSync(join(dirname(require.resolve('bizra/package.json')), 'index.d.ts'), 'utf8')
  const union = (name) => {
    const m = dts.match(new RegExp(`export type ${name} =([^]*?)\\n\\n`))
    assert.ok(m, `no type ${name} in index.d.ts`)
    return [...m[1].matchAll(/'([A-Z_]+)'/g)].map((x) => x[1])
  }
  assert.deepEqual(union('ErrorKindName'), ERROR_KINDS.map((k) => k.name))
  assert.deepEqual(union('RejectName'), Object.keys(REJECT_CODES).sort((a, b) => REJECT_CODES[a] - REJECT_CODES[b]))
  assert.deepEqual(union('CertificateRefusalName'), Object.keys(CERTIFICATE_CODES))
  assert.deepEqual(union('EvidenceRefusalName'), Object.keys(cjs.EVIDENCE_CODES))
})

test("the defaults are the core's constants", () => {
  assert.equal(good().ttl, DEFAULT_TTL_SECONDS)
  assert.equal(new ReplayCache().capacity, DEFAULT_REPLAY_CAPACITY)
  assert.equal(new ReplayCache(null).capacity, DEFAULT_REPLAY_CAPACITY)
  assert.equal(Constitution.default().maxTtlSeconds, MAX_TTL_SECONDS)
  assert.equal(Constitution.default().maxClockSkewSeconds, MAX_CLOCK_SKEW_SECONDS)
  assert.ok(DEFAULT_TTL_SECONDS >= 1 && DEFAULT_TTL_SECONDS <= MAX_TTL_SECONDS)
  good({}, { ttl: MAX_TTL_SECONDS })
  const tooLong = caught(() => good({}, { ttl: MAX_TTL_SECONDS + 1 }))
  assert.equal(tooLong.kind, 'INVALID_INPUT')
  assert.match(tooLong.message, new RegExp(`between 1 and ${MAX_TTL_SECONDS} seconds, got ${MAX_TTL_SECONDS + 1}`))
  const ids = Array.from({ length: MAX_PROVENANCE + 1 }, (_, i) => 'pci_' + i.toString(16).padStart(32, '0'))
  good({}, { provenance: ids.slice(1) })
  assert.equal(caught(() => good({}, { provenance: ids })).kind, 'INVALID_INPUT')
  assert.equal(caught(() => good('x'.repeat(MAX_PAYLOAD_BYTES))).kind, 'INVALID_INPUT')
  for (const bad of [-1, 1.5, 2 ** 32, '10']) assert.throws(() => new ReplayCache(bad), TypeError, String(bad))
})

test('the ES module entry exports what the CommonJS entry does', () => {
  const names = Object.keys(cjs).filter((k) => !k.startsWith('__'))
  assert.ok(names.length >= 25, names.join())
  for (const name of names) assert.equal(bizra[name], cjs[name], name)
  assert.deepEqual(Object.keys(bizra).filter((k) => k !== 'default').sort(), [...names].sort())
})

test('every options object refuses unknown keys, naming the right one', () => {
  const unknown = (re) => (e) => {
    assert.ok(e instanceof TypeError, `expected TypeError, got ${e}`)
    assert.match(e.message, re)
    return true
  }
  const env = good()
  // Envelope.create (checked in index.js, worded by the addon).
  assert.throws(() => good({}, { tll: 60 }), unknown(/^unknown option tll \(did you mean ttl\?\)$/))
  assert.throws(() => good({}, { time_stamp: T0 }), unknown(/did you mean timestamp\?/))
  assert.throws(() => good({}, { scores: { snr: 0.9, ihsaan: 0.97 } }), unknown(/^unknown option scores\.ihsaan \(did you mean scores\.ihsan\?\)$/))
  assert.throws(() => good({}, { colour: 'red' }), unknown(/^unknown option colour; one of ttl, provenance, scores, policy, timestamp, id$/))
  assert.throws(() => Envelope.create(id, {}, Object.create({ TTL: 1 })), unknown(/did you mean ttl\?/))
  // verify, open, verifyBatch.
  assert.throws(() => env.verify({ Now: T0 }), unknown(/unknown option Now \(did you mean now\?\)/))
  assert.throws(() => env.verify({ replay_cache: new ReplayCache() }), unknown(/unknown option replay_cache; one of now, policy, replay/))
  assert.throws(() => Envelope.open(env.toJson(), { polcy: 'x' }), unknown(/did you mean policy\?/))
  assert.throws(() => verifyBatch([env], { nwo: T0 }), unknown(/did you mean now\?/))
  // The gate chain.
  const chain = new GateChain()
  assert.throws(() => chain.check(env, { at: T0 }), unknown(/unknown option at; one of now$/))
  assert.throws(() => chain.admit(env, { NOW: T0 }), unknown(/did you mean now\?/))
  assert.equal(new ReplayCache().size, 0)
  // Identity.save, Constitution.check.
  const dir = mkdtempSync(join(tmpdir(), 'bizra-vocab-'))
  try {
    assert.throws(() => id.save(join(dir, 'k.pem'), null, { over_write: true }), unknown(/did you mean overwrite\?/))
    assert.throws(() => id.save(join(dir, 'k.pem'), { overwrite: true }), unknown(/passphrase must be a string.*options come third/))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const c = Constitution.default()
  assert.throws(() => c.check({ snr: 0.9, ihsan: 0.97, has_signature: true, hasProvenance: true }), unknown(/unknown field has_signature \(did you mean hasSignature\?\)/))
  assert.throws(() => c.check({ snr: 0.9, ihsan: 0.97, hasProvenance: true }), unknown(/hasSignature is required/))
  assert.throws(() => c.check(null), unknown(/input must be an object/))
  // The right keys still work.
  good({}, { ttl: 60, provenance: [], scores: { snr: 0.9, ihsan: 0.97 }, policy: c.hash, timestamp: T0, id: 'pci_' + 'f'.repeat(32) })
  env.verify({ now: T0, policy: c, replay: new ReplayCache() })
})
