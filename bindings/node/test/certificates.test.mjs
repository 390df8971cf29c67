// Commit certificates and equivocation evidence checked offline (tests/vectors/CONSENSUS-v1.md),
// no node running: both federation documents and their hashes, every certificate vector
// (computed independently of bizra) with its verdict, every one-byte mutation of a valid
// certificate refused with its code, arguments that are not documents, certificates or
// batches, evidence refused with its code, and a verification in a fresh process that never
// starts a node.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BizraError, CERTIFICATE_CODES, Certificate, EVIDENCE_CODES, Evidence, FederationDocument } from 'bizra'
import { VECTORS_DIR, hex } from './helpers.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const VECTORS_FILE = join(VECTORS_DIR, 'consensus-v1-vectors.json')
const CONSENSUS = JSON.parse(readFileSync(VECTORS_FILE, 'utf8'))
const DOCUMENTS = CONSENSUS.documents
const BATCHES = Object.fromEntries(CONSENSUS.batches.map((b) => [b.name, b]))
const CERTIFICATES = CONSENSUS.certificates
const WIRE = Object.fromEntries(CONSENSUS.wire.messages.map((m) => [m.name, m]))

const document = (name) => FederationDocument.fromJson(DOCUMENTS[name].json)
const certificateJson = (name) => CERTIFICATES.find((c) => c.name === name).json

/** Reads and verifies one case as the vectors state it; throws what the binding throws. */
function verdict(text, doc, batch) {
  const cert = Certificate.fromJson(text)
  if (batch === undefined) cert.verify(doc)
  else cert.verifyBatch(BATCHES[batch].json, doc)
  return cert
}

function caught(f) {
  try {
    f()
  } catch (e) {
    return e
  }
  assert.fail('expected a throw')
}

/** A refused certificate, as every binding reports it. */
function assertRefused(e, name, what = name) {
  assert.ok(e instanceof BizraError, `${what}: expected BizraError, got ${e}`)
  assert.equal(e.kind, 'CERTIFICATE_REFUSED', `${what}: ${e.message}`)
  assert.equal(e.code, name, `${what}: ${e.message}`)
  assert.equal(e.certificateCode, CERTIFICATE_CODES[name], what)
  assert.equal(e.reject, undefined)
  assert.equal(e.evidenceCode, undefined)
  assert.equal(e.retryable, false)
  assert.ok(e.detail.length > 0 && e.message.includes(e.detail), `${what}: ${e.message}`)
  assert.ok(e.message.startsWith(`certificate refused: ${name} (`), e.message)
}

for (const [name, v] of Object.entries(DOCUMENTS)) {
  test(`document vector ${name}`, () => {
    const fields = JSON.parse(v.json)
    const doc = FederationDocument.fromJson(v.json)
    assert.ok(doc instanceof FederationDocument)
    assert.equal(doc.hash, v.hash)
    assert.ok(Buffer.isBuffer(doc.hashBytes))
    assert.equal(doc.hashBytes.toString('hex'), v.hash)
    assert.equal(doc.toJson(), v.json, "the vectors' JSON is canonical")
    assert.equal(doc.federation, fields.federation)
    assert.equal(doc.epoch, fields.epoch)
    assert.deepEqual(doc.validators, fields.validators.map((x) => ({ key: x.key, power: x.power })))
    assert.equal(doc.totalPower, fields.validators.reduce((a, x) => a + x.power, 0))
    const again = FederationDocument.fromJson(JSON.stringify(fields, null, 2))
    assert.ok(again.equals(doc) && doc.equals(again), 'the same document, however written')
    assert.equal(again.hash, doc.hash)
    assert.ok(!doc.equals(document(name === 'equal' ? 'weighted' : 'equal')))
    assert.ok(String(doc).startsWith(`FederationDocument(federation="${fields.federation}", epoch=${fields.epoch}, `), String(doc))
  })
}

test('every certificate vector, with its verdict', () => {
  assert.equal(CERTIFICATES.length, 25)
  for (const c of CERTIFICATES) {
    const doc = document(c.document)
    if (c.expect === 'ok') {
      const cert = verdict(c.json, doc, c.batch)
      assert.equal(cert.toJson(), c.json, `${c.name}: canonical form`)
      assert.equal(cert.federation, doc.federation)
      assert.equal(cert.epoch, doc.epoch)
      const fields = JSON.parse(c.json)
      assert.equal(cert.height, fields.height)
      assert.equal(cert.round, fields.round)
      assert.equal(cert.value, fields.value)
      if (c.batch !== undefined) assert.equal(cert.value, BATCHES[c.batch].id)
      assert.deepEqual(
        cert.signatures.map((s) => [s.validator, s.signature.toString('hex')]),
        fields.signatures.map((s) => [s.validator, s.signature]),
      )
      assert.ok(Certificate.fromJson(cert.toJson()).equals(cert))
    } else {
      assertRefused(caught(() => verdict(c.json, doc, c.batch)), c.expect, c.name)
    }
  }
})

test('every refusal code is exercised, each with its stable number', () => {
  assert.deepEqual(CERTIFICATE_CODES, {
    MALFORMED: 1,
    WRONG_FEDERATION: 2,
    WRONG_EPOCH: 3,
    UNKNOWN_SIGNER: 4,
    DUPLICATE_SIGNER: 5,
    BAD_SIGNATURE: 6,
    INSUFFICIENT_POWER: 7,
    VALUE_MISMATCH: 8,
  })
  assert.ok(Object.isFrozen(CERTIFICATE_CODES))
  const refused = new Set(CERTIFICATES.filter((c) => c.expect !== 'ok').map((c) => c.expect))
  assert.deepEqual([...refused].sort(), Object.keys(CERTIFICATE_CODES).sort())
})

test('every one-byte mutation of a valid certificate is refused with its code', () => {
  // Each breaks the form or changes a signed field, a signer or a signature.
  const text = certificateJson('three-of-four')
  const doc = document('equal')
  const seen = new Set()
  for (let i = 0; i < text.length; i++) {
    const mutated = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 1) + text.slice(i + 1)
    const e = caught(() => verdict(mutated, doc))
    assert.ok(e instanceof BizraError, `byte ${i}: ${e}`)
    assert.equal(e.kind, 'CERTIFICATE_REFUSED', `byte ${i}: ${e.message}`)
    assert.equal(CERTIFICATE_CODES[e.code], e.certificateCode, `byte ${i}: ${e.code}`)
    seen.add(e.code)
  }
  // The unmutated text still verifies (the loop tested mutations, not a broken copy).
  verdict(text, doc)
  assert.ok(seen.has('MALFORMED') && seen.has('BAD_SIGNATURE'), [...seen].join())
})

test('accessors, batches and the value mismatch', () => {
  const doc = document('equal')
  const cert = Certificate.fromJson(certificateJson('round-two'))
  assert.equal(cert.round, 2)
  assert.equal(cert.height, 9)
  assert.ok(cert.signatures.length >= 3)
  for (const s of cert.signatures) {
    assert.match(s.validator, /^[0-9a-f]{64}$/)
    assert.ok(Buffer.isBuffer(s.signature) && s.signature.length === 64)
  }
  cert.verifyBatch(BATCHES.one.json, doc)
  const e = caught(() => cert.verifyBatch(BATCHES.two.json, doc))
  assertRefused(e, 'VALUE_MISMATCH')
  assert.equal(e.certificateCode, 8)
  assert.ok(e.detail.includes(cert.value), e.detail)
  assert.ok(String(cert).startsWith('Certificate(federation="vectors", epoch=3, height=9, round=2, '), String(cert))
  assert.ok(!cert.equals(Certificate.fromJson(certificateJson('three-of-four'))))
})

test('what is not a document, a certificate or a batch', () => {
  const invalid = (re) => (e) => {
    assert.ok(e instanceof BizraError, String(e))
    assert.equal(e.kind, 'INVALID_INPUT', e.message)
    assert.match(e.message, re)
    return true
  }
  assert.throws(() => FederationDocument.fromJson('{'), invalid(/not I-JSON/))
  assert.throws(() => FederationDocument.fromJson('{"epoch":1,"federation":"f","validators":[],"quorum":3}'), invalid(/unknown field "quorum"/))
  const notCert = caught(() => Certificate.fromJson('[]'))
  assertRefused(notCert, 'MALFORMED')
  assert.match(notCert.message, /JSON object/)
  const cert = Certificate.fromJson(certificateJson('three-of-four'))
  const doc = document('equal')
  // A batch that cannot be read is a wrong argument, not a refused certificate.
  assert.throws(() => cert.verifyBatch('[1]', doc), invalid(/batch\[0\]/))
  const typeError = (re) => (e) => e instanceof TypeError && re.test(e.message)
  assert.throws(() => cert.verify(cert.toJson()), typeError(/^document must be a FederationDocument$/))
  assert.throws(() => cert.verify(cert), typeError(/^document must be a FederationDocument$/))
  assert.throws(() => cert.verify(), typeError(/document must be a FederationDocument/))
  assert.throws(() => cert.verifyBatch(Buffer.from(BATCHES.two.json), doc), typeError(/^batchJson must be a string/))
  assert.throws(() => cert.verifyBatch(BATCHES.two.json, {}), typeError(/^document must be a FederationDocument$/))
  assert.throws(() => doc.equals('x'), typeError(/^other must be a FederationDocument$/))
  assert.throws(() => cert.equals(doc), typeError(/^other must be a Certificate$/))
  assert.throws(() => FederationDocument.fromJson(5), TypeError)
  assert.throws(() => Certificate.fromJson(null), TypeError)
})

/** Evidence from two wire vectors: `first` by `a`, `second` by `b`, with stated fields. */
function evidence(a, b, fields = {}) {
  const f = WIRE[a].fields
  return new Evidence({
    validator: f.validator ?? f.proposer,
    height: f.height,
    round: f.round,
    step: WIRE[a].kind === 'proposal' ? 'proposal' : f.type,
    first: hex(WIRE[a].hex),
    second: hex(WIRE[b].hex),
    ...fields,
  })
}

test('evidence that proves nothing is refused with its code', () => {
  assert.deepEqual(EVIDENCE_CODES, {
    MALFORMED: 1,
    DIFFERENT_STEP: 2,
    DIFFERENT_VALIDATOR: 3,
    DIFFERENT_ROUND: 4,
    NOT_CONFLICTING: 5,
    FIELDS_MISMATCH: 6,
    UNKNOWN_VALIDATOR: 7,
    BAD_SIGNATURE: 8,
  })
  const doc = FederationDocument.fromJson(DOCUMENTS[CONSENSUS.wire.document].json)
  const cases = [
    [evidence('vote-prevote', 'vote-prevote', { second: Buffer.from('junk') }), 'MALFORMED'],
    [evidence('vote-prevote', 'decision'), 'MALFORMED'],
    [evidence('vote-prevote', 'vote-precommit'), 'DIFFERENT_STEP'],
    [evidence('vote-prevote', 'proposal'), 'DIFFERENT_STEP'],
    [evidence('vote-prevote', 'vote-prevote-nil'), 'DIFFERENT_VALIDATOR'],
    [evidence('proposal', 'proposal-pol'), 'DIFFERENT_ROUND'],
    [evidence('vote-prevote', 'vote-prevote'), 'NOT_CONFLICTING'],
  ]
  for (const [ev, name] of cases) {
    const e = caught(() => ev.verify(doc))
    assert.ok(e instanceof BizraError, `${name}: ${e}`)
    // Kind EVIDENCE_REFUSED, as a refused certificate is CERTIFICATE_REFUSED: the code is the
    // refusal's name, its number in evidenceCode.
    assert.equal(e.kind, 'EVIDENCE_REFUSED', e.message)
    assert.equal(e.code, name)
    assert.equal(e.evidenceCode, EVIDENCE_CODES[name], `${name}: ${e.message}`)
    assert.equal(e.certificateCode, undefined)
    assert.equal(e.reject, undefined)
    assert.equal(e.retryable, false)
    assert.ok(e.message.startsWith(`equivocation evidence refused: ${name} (`), e.message)
    assert.ok(e.detail.length > 0 && e.message.includes(e.detail), e.message)
  }
  // The parts read back as given.
  const ev = evidence('vote-prevote', 'vote-precommit')
  assert.equal(ev.kind, 'evidence')
  assert.equal(ev.validator, WIRE['vote-prevote'].fields.validator)
  assert.deepEqual([ev.height, ev.round, ev.step], [7, 0, 'prevote'])
  assert.deepEqual(ev.first, hex(WIRE['vote-prevote'].hex))
  assert.deepEqual(ev.second, hex(WIRE['vote-precommit'].hex))
  assert.match(String(ev), /^Evidence\(validator="8a88e3dd[0-9a-f]+", height=7, round=0, step="prevote"\)$/)
  assert.throws(() => ev.verify('doc'), (e) => e instanceof TypeError && /document must be a FederationDocument/.test(e.message))
})

test('evidence parts are read strictly', () => {
  const parts = { validator: 'ab'.repeat(32), height: 1, round: 0, step: 'prevote', first: Buffer.alloc(1), second: new Uint8Array(1) }
  new Evidence(parts)
  const typeError = (re) => (e) => e instanceof TypeError && re.test(e.message)
  assert.throws(() => new Evidence({ ...parts, step: 'vote' }), typeError(/parts\.step must be "proposal", "prevote" or "precommit", got "vote"/))
  assert.throws(() => new Evidence({ ...parts, hieght: 1 }), typeError(/unknown part hieght \(did you mean height\?\)/))
  assert.throws(() => new Evidence({ ...parts, height: undefined }), typeError(/parts\.height is required/))
  assert.throws(() => new Evidence({ ...parts, height: -1 }), typeError(/height must be a whole number from 0 to 2\^53 - 1/))
  assert.throws(() => new Evidence({ ...parts, first: 'aa' }), typeError(/first must be a Uint8Array or Buffer/))
  assert.throws(() => new Evidence(), typeError(/parts must be an object/))
  assert.throws(() => Evidence({}), TypeError)
})

test('verified in a fresh process that never starts a node', () => {
  // It holds only the document; no socket is opened on the way.
  const script = `
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { Certificate, FederationDocument } from 'bizra'
const v = JSON.parse(readFileSync(process.argv[1], 'utf8'))
const doc = FederationDocument.fromJson(v.documents.equal.json)
const cases = Object.fromEntries(v.certificates.map((c) => [c.name, c.json]))
Certificate.fromJson(cases['three-of-four']).verify(doc)
console.log('valid', doc.hash)
try {
  Certificate.fromJson(cases['signature-flipped']).verify(doc)
} catch (e) {
  console.log('refused', e.certificateCode, e.code)
}
// Beyond stdin, stdout and stderr (socket pairs when the parent pipes them).
const links = readdirSync('/proc/self/fd').filter((fd) => Number(fd) > 2).map((fd) => { try { return readlinkSync('/proc/self/fd/' + fd) } catch { return '' } })
console.log('sockets', links.filter((l) => l.startsWith('socket:')).length)
`
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, VECTORS_FILE], {
    cwd: dirname(here),
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(run.status, 0, run.stderr)
  assert.deepEqual(run.stdout.trim().split('\n'), [`valid ${DOCUMENTS.equal.hash}`, 'refused 6 BAD_SIGNATURE', 'sockets 0'])
})

test('the example verifies files: exit status 0 for a valid certificate, 1 for a refused one', () => {
  // Copied into the package's project, where 'bizra' resolves as it does for the suite.
  const example = join(dirname(here), `certificate-example-${process.pid}.mjs`)
  const dir = mkdtempSync(join(tmpdir(), 'bizra-certificate-'))
  try {
    copyFileSync(join(VECTORS_DIR, '..', '..', 'examples', 'node', 'certificate.mjs'), example)
    const file = (name, text) => {
      writeFileSync(join(dir, name), text)
      return join(dir, name)
    }
    const doc = file('document.json', DOCUMENTS.equal.json)
    const batch = file('batch.json', BATCHES.two.json)
    const cert = file('certificate.json', certificateJson('three-of-four'))
    const run = (...paths) => spawnSync(process.execPath, [example, ...paths], { encoding: 'utf8', timeout: 60_000 })
    const ok = run(doc, cert, batch)
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /valid {9}height 7 round 0/)
    file('certificate.json', certificateJson('outsider-signs'))
    const refused = run(doc, cert)
    assert.equal(refused.status, 1, refused.stderr)
    assert.match(refused.stdout, /refused {7}4 UNKNOWN_SIGNER: /)
    // Without arguments: the vectors' certificate, then a forged copy.
    const demo = spawnSync(process.execPath, [example], { encoding: 'utf8', env: { ...process.env, BIZRA_VECTORS: VECTORS_DIR } })
    assert.equal(demo.status, 0, demo.stderr)
    assert.match(demo.stdout, /refused {7}6 BAD_SIGNATURE: /)
  } finally {
    rmSync(example, { force: true })
    rmSync(dir, { recursive: true, force: true })
  }
})
