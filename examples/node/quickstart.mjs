// bizra quickstart for Node: an identity, a signed PCI envelope, verification, the gate chain.
//   npm install bizra     (or the tarball that `npm pack` makes in bindings/node)
//   node quickstart.mjs
import { BizraError, Envelope, GateChain, Identity, ReplayCache, verifyBatch } from 'bizra'

// 1. A node identity (Ed25519). Keep it with `id.save(path, passphrase)` (an existing key file is
//    refused unless `{ overwrite: true }` comes third), read it with `Identity.load(path, passphrase)`.
const id = Identity.generate()
console.log(`identity ${id.displayId} (node id ${id.nodeId})`)

// 2. Wrap an output in a signed envelope: any JSON value, with its quality scores.
const env = Envelope.create(id, { prompt: 'What is 2+2?', answer: '4' }, { scores: { snr: 0.93, ihsan: 0.97 }, ttl: 600 })
const wire = env.toJson() // canonical JSON (RFC 8785), what goes on the wire
console.log(`envelope ${env.id}, ${wire.length} bytes`)

// 3. The receiver parses and verifies it; a replay cache refuses the same envelope twice.
const received = Envelope.parse(wire)
const replay = new ReplayCache()
received.verify({ replay })
try {
  received.verify({ replay })
} catch (e) {
  if (!(e instanceof BizraError)) throw e
  console.log(`second delivery refused: ${e.code} (PCI-${e.reject})`)
}

// 4. Tampering is caught: the payload no longer matches content_hash.
const forged = JSON.parse(wire)
forged.payload.answer = '5'
try {
  Envelope.parse(JSON.stringify(forged)).verify()
} catch (e) {
  console.log(`forged envelope refused: ${e.code} (PCI-${e.reject})`)
}

// 5. The gate chain admits envelopes through every built-in gate plus your own (JavaScript) gates.
const chain = new GateChain()
chain.addGate('has-answer', 'cheap', (envelope) => (envelope.payload?.answer ? true : 'no answer'))
// `check` judges without admitting; `admit` admits (recording the id) or throws the refusal.
const opened = Envelope.open(wire) // parse + verify in one call
const report = chain.check(opened)
console.log(`gate chain: ${report.passed ? 'admissible' : `refused (${report.code})`} after ${report.results.length} gates`)
chain.admit(opened)
try {
  chain.admit(opened)
} catch (e) {
  console.log(`admitted once; again: ${e.code} (kind ${e.kind})`)
}

// 6. Many envelopes at once, verified off the main thread.
const batch = [env, Envelope.parse(JSON.stringify(forged))]
console.log(`batch verdicts: ${JSON.stringify(await verifyBatch(batch))} (0 = valid)`)
