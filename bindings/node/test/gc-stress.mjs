// Run by gc.test.mjs as `node --expose-gc gc-stress.mjs [model]`: makes, uses and drops objects of
// every kind the addon wraps, under forced collections, so that their finalizers run during
// garbage collection (see `node_api_module_get_api_version_v1` in src/lib.rs). A finalizer that
// called a Node-API function not allowed there would abort the process. Prints `ok` at the end.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Certificate, Constitution, Envelope, Evidence, FederationDocument, GateChain, HardwareProfile, Identity, Model, Node,
  ReplayCache, verifyBatch,
} from 'bizra'
import { VECTORS_DIR } from './helpers.mjs'

const gc = globalThis.gc
if (typeof gc !== 'function') throw new Error('run with --expose-gc')
const T0 = new Date('2026-01-30T00:00:00.000Z')
const scores = { snr: 0.93, ihsan: 0.97 }
const collect = async () => {
  gc()
  await new Promise(setImmediate)
  gc()
}

function coreObjects(round) {
  const envelopes = []
  for (let i = 0; i < 100; i++) {
    const id = Identity.generate()
    const env = Envelope.create(id, { round, i, text: 'x'.repeat(200) }, { timestamp: T0, scores })
    const back = Envelope.parse(env.toJson())
    back.verify({ now: T0, replay: new ReplayCache(4) })
    const chain = new GateChain(Constitution.default())
    chain.addGate('js', 'cheap', (e) => e.id === env.id)
    chain.setReplayCache(new ReplayCache(8))
    if (!chain.check(env, { now: T0 }).passed) throw new Error('a JavaScript gate refused')
    id.sign(Buffer.from('message'))
    HardwareProfile.detect()
    envelopes.push(back)
  }
  return envelopes
}

// Certificates, documents and evidence, verified and refused (a refusal is an error object too).
const CONSENSUS = JSON.parse(readFileSync(join(VECTORS_DIR, 'consensus-v1-vectors.json'), 'utf8'))
function certificates() {
  for (let i = 0; i < 20; i++) {
    const doc = FederationDocument.fromJson(CONSENSUS.documents.equal.json)
    for (const c of CONSENSUS.certificates.filter((x) => x.document === 'equal')) {
      try {
        const cert = Certificate.fromJson(c.json)
        void cert.signatures
        cert.verify(doc)
      } catch {}
    }
    const [vote] = CONSENSUS.wire.messages
    const bytes = Buffer.from(vote.hex, 'hex')
    const { validator, height, round } = vote.fields
    const evidence = new Evidence({ validator, height, round, step: 'prevote', first: bytes, second: bytes })
    try {
      evidence.verify(doc)
    } catch {}
    void doc.validators
  }
}

async function inference(model, id) {
  await model.generate(id, 'Say hi.', { temperature: 0, maxTokens: 4 })
  for await (const item of model.stream(id, 'Say hi.', { temperature: 0, maxTokens: 4 })) void item
  const stream = model.stream(id, 'Write a long story about a dragon.', { temperature: 0, maxTokens: 64 })
  await stream.next()
  stream.cancel()
  await stream.envelope()
  const abort = new AbortController()
  const aborted = model.stream(id, 'Write a long story about a dragon.', { maxTokens: 64, signal: abort.signal })
  abort.abort(new Error('stop'))
  await aborted.envelope().catch(() => {})
  // A stream dropped unread runs to its limit, then its objects are collected too.
  model.stream(id, 'Say hi.', { temperature: 0, maxTokens: 4 })
  await model.embed('hello')
}

// Federation nodes and event streams: closed ones, and ones dropped open (a collected node leaves
// on a thread of its own, a collected stream unsubscribes), with a `next()` still pending.
async function federation() {
  const fast = { bind: '127.0.0.1:0', probePeriodMs: 100, probeRttMs: 40, suspectToDownAfterMs: 500, gossipIntervalMs: 30 }
  const a = await Node.start(Identity.generate(), fast)
  const events = a.events()
  const b = await Node.start(Identity.generate(), { ...fast, seeds: [a.localAddr] })
  for await (const e of events) if (e.member.nodeId === b.nodeId) break
  a.events({ signal: new AbortController().signal })
  a.events()
  b.events().next()
  if (a.members().length !== 1 || a.stats().sent === 0) throw new Error('the nodes did not meet')
  await a.close()
}

// A lone validator: decisions read and dropped, consensus streams closed, dropped open and with a
// `next()` pending, a stopped node's decision read back.
async function consensus(round) {
  const me = Identity.generate()
  const document = FederationDocument.fromJson(
    JSON.stringify({ federation: 'gc', epoch: 1, validators: [{ key: me.publicKeyHex, power: 1 }] }),
  )
  const dir = mkdtempSync(join(tmpdir(), 'bizra-gc-'))
  try {
    const node = await Node.start(me, { bind: '127.0.0.1:0', federation: 'gc', document, dataDir: dir })
    const events = node.consensusEvents()
    node.consensusEvents({ signal: new AbortController().signal })
    node.consensusEvents().next()
    node.consensusEvents().close()
    await node.propose(Envelope.create(me, { type: 'bizra.proposal', round }, { scores }))
    const { value } = await events.next()
    value.certificate.verifyBatch(value.batchJson, document)
    const stored = await node.decided(1)
    if (stored.proposals.length !== 1 || node.consensusStatus().decided !== 1) throw new Error('not decided')
    await node.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const modelPath = process.argv[2]
let model = modelPath ? await Model.load(modelPath, { nCtx: 256, threads: 1 }) : undefined
const id = Identity.fromSeed(new Uint8Array(32).fill(3))
for (let round = 0; round < 5; round++) {
  const envelopes = coreObjects(round)
  certificates()
  const codes = await verifyBatch(envelopes, { now: T0 })
  if (codes.some((c) => c !== 0)) throw new Error(`verifyBatch: ${codes}`)
  if (model) await inference(model, id)
  await federation()
  await consensus(round)
  await collect()
}
model = undefined
await collect()
await new Promise((resolve) => setTimeout(resolve, 200))
await collect()
console.log('ok')
