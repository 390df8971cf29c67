// Every vector of tests/vectors/PCI-v1.md (tests/vectors/pci-v1-vectors.json), byte for byte.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { BizraError, Constitution, Envelope, Identity, verifyMessage } from 'bizra'
import { vectors, constitutionText, hex } from './helpers.mjs'

test('constitution hash', () => {
  assert.equal(Constitution.default().hash, vectors.constitution.hash)
  assert.equal(Constitution.fromJson(constitutionText).hash, vectors.constitution.hash)
  assert.equal(Constitution.fromJson(vectors.constitution.jcs).hash, vectors.constitution.hash)
})

for (const v of vectors.identities) {
  test(`identity ${v.node_id}`, () => {
    const id = Identity.fromSeed(hex(v.seed))
    assert.equal(id.publicKeyHex, v.public_key)
    assert.deepEqual(id.publicKey, hex(v.public_key))
    assert.equal(id.nodeId, v.node_id)
    assert.equal(id.displayId, `node_${v.node_id.slice(0, 8)}`)
    assert.equal(id.toPem(), v.pkcs8_pem)
    assert.equal(Identity.fromPem(v.pkcs8_pem).nodeId, v.node_id)
    assert.equal(Identity.fromPem(v.seed).nodeId, v.node_id)
  })
}

for (const [k, v] of vectors.messages.entries()) {
  test(`message ${k} (${v.message_hex.length / 2} bytes)`, () => {
    const id = Identity.fromSeed(hex(v.seed))
    const msg = hex(v.message_hex)
    const sig = id.sign(msg)
    assert.equal(Buffer.from(sig).toString('hex'), v.signature)
    assert.equal(verifyMessage(id.publicKey, msg, hex(v.signature)), true)
    assert.equal(verifyMessage(id.publicKeyHex, msg, hex(v.signature)), true)
    const bad = hex(v.signature)
    bad[0] ^= 1
    assert.equal(verifyMessage(id.publicKey, msg, bad), false)
    assert.equal(verifyMessage(id.publicKey, Buffer.concat([msg, Buffer.from('x')]), hex(v.signature)), false)
  })
}

for (const v of vectors.envelopes) {
  test(`envelope ${v.name}: built from its parts`, () => {
    const id = Identity.fromSeed(hex(v.seed))
    const e = v.envelope
    const env = Envelope.create(id, JSON.parse(v.payload_jcs), {
      ttl: e.ttl,
      provenance: e.provenance,
      scores: e.scores,
      policy: e.policy,
      timestamp: new Date(e.timestamp),
      id: e.id,
    })
    assert.equal(env.contentHash, v.content_hash)
    assert.equal(env.headerJson(), v.header_jcs)
    assert.equal(env.signature, v.signature)
    assert.equal(env.toJson(), Envelope.parse(JSON.stringify(e)).toJson())
    env.verify({ now: new Date(v.verify_at) })
  })

  test(`envelope ${v.name}: parsed, getters, verified`, () => {
    const e = v.envelope
    const env = Envelope.parse(JSON.stringify(e))
    assert.equal(env.version, e.version)
    assert.equal(env.id, e.id)
    assert.equal(env.sender, e.sender)
    assert.equal(env.publicKey, e.public_key)
    assert.equal(env.timestampText, e.timestamp)
    assert.equal(env.timestamp.toISOString(), e.timestamp)
    assert.equal(env.ttl, e.ttl)
    assert.equal(env.contentHash, e.content_hash)
    assert.deepEqual(env.provenance, e.provenance)
    assert.deepEqual({ ...env.scores }, e.scores)
    assert.equal(env.policy, e.policy)
    assert.deepEqual(env.payload, JSON.parse(v.payload_jcs)) // JCS: -0 reads back as 0
    assert.equal(env.signature, e.signature)
    assert.equal(env.headerJson(), v.header_jcs)
    assert.deepEqual(JSON.parse(JSON.stringify(env)), JSON.parse(JSON.stringify(e)))
    assert.equal(env.verify({ now: new Date(v.verify_at) }), undefined)
    // The same bytes as UTF-8.
    Envelope.parse(new TextEncoder().encode(JSON.stringify(e))).verify({ now: new Date(v.verify_at) })
  })
}

for (const r of vectors.rejects) {
  test(`reject ${r.name} → ${r.code}`, () => {
    const now = new Date(r.now)
    const run = () => Envelope.parse(r.text).verify({ now })
    if (r.code === 0) {
      assert.equal(run(), undefined)
    } else {
      assert.throws(run, (e) => {
        assert.ok(e instanceof BizraError, `${e}`)
        assert.equal(e.reject, r.code, e.message)
        assert.equal(typeof e.code, 'string')
        return true
      })
    }
  })
}
