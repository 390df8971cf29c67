// One vocabulary across the bindings: the README's table (Node column), the error-kind table,
// and the conveniences every binding offers under the same names.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as bizra from 'bizra'
import {
  BizraError, Constitution, ERROR_KINDS, Envelope, GateChain, GateReport, Identity, REJECT_CODES,
  ReplayCache,
} from 'bizra'
import { VECTORS_DIR } from './helpers.mjs'

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
    'INVALID_INPUT', 'REJECTED', 'KEY', 'CONSTITUTION', 'IO', 'MODEL', 'MODEL_NOT_FOUND',
    'PROMPT_TOO_LONG', 'NO_REMOTE_POOL', 'INFERENCE', 'INTERNAL', 'PANIC',
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
  assert.equal(new ReplayCache().capacity, 100000)
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
