// bizra consensus for Node: four validators on loopback decide proposals, and each decision's
// commit certificate is checked offline against the federation document.
//
// The validators and their voting powers come from a federation document, never from gossip;
// the membership (SWIM over signed UDP datagrams) only tells the nodes where the others are.
// Each node keeps its write-ahead log and its decided heights in a data directory. The timeouts
// are short so that a lost round costs little; a healthy round decides in milliseconds. Run it
// with `make demo-node-consensus` (or `node examples/node/consensus.mjs` once the package is
// installed).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Certificate, Envelope, FederationDocument, Identity, Node } from 'bizra'

const names = ['ada', 'bob', 'cy', 'dee']
const ids = names.map(() => Identity.generate())

// In a real federation the document is written once per epoch and handed to every member.
const document = FederationDocument.fromJson(
  JSON.stringify({
    federation: 'demo',
    epoch: 1,
    timeouts_ms: { propose: 300, prevote: 150, precommit: 150, delta: 50, rebroadcast: 300 },
    validators: ids.map((id) => ({ key: id.publicKeyHex, power: 1 })),
  }),
)
console.log(`document demo epoch 1: ${document.validators.length} validators, hash ${document.hash.slice(0, 16)}...`)

const dirs = names.map((name) => mkdtempSync(join(tmpdir(), `bizra-${name}-`)))
async function start(i, seeds = []) {
  const node = await Node.start(ids[i], {
    bind: '127.0.0.1:0', // port 0: any free port (consensus listens on TCP at the same number)
    seeds,
    federation: 'demo',
    document,
    dataDir: dirs[i], // the write-ahead log and the decided heights
    probePeriodMs: 100,
    probeRttMs: 40,
    gossipIntervalMs: 30,
  })
  console.log(`started  ${names[i].padEnd(4)} ${node.nodeId.slice(0, 8)} on ${node.localAddr}`)
  return node
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const first = await start(0)
const nodes = [first, ...(await Promise.all([1, 2, 3].map((i) => start(i, [first.localAddr]))))]

// Each validator links to every other one (authenticated TCP) once the membership has found it.
const began = performance.now()
while (!nodes.every((n) => n.consensusStatus().linked === 3)) await sleep(10)
console.log(`linked   in ${((performance.now() - began) / 1000).toFixed(2)} s`)

/** Prints `node`'s decisions until it has seen `count`; the stream waits off the main thread. */
async function watch(node, name, count) {
  let seen = 0
  for await (const event of node.consensusEvents({ signal: AbortSignal.timeout(30_000) })) {
    if (event.kind === 'evidence') {
      console.log(`evidence ${name}: validator ${event.validator.slice(0, 8)} signed two ${event.step}s`)
      continue
    }
    // Anyone holding the document can check this, offline: the signatures, the power, the batch.
    event.certificate.verifyBatch(event.batchJson, document)
    const texts = event.proposals.map((p) => p.payload.text).join(', ')
    console.log(`decided  ${name.padEnd(4)} height ${event.height} round ${event.round}: ${texts} ` +
      `(${event.certificate.signatures.length} signatures, verified)`)
    if (++seen === count) return // `break` and `return` end the stream; the node runs on
  }
  throw new Error(`${name} saw only ${seen} of ${count} decisions within 30 s`)
}

const watchers = nodes.map((n, i) => watch(n, names[i], 2))
const proposal = (by, text) =>
  Envelope.create(by, { type: 'bizra.proposal', text }, { scores: { snr: 0.9, ihsan: 0.97 }, ttl: 600 })
const adopt = proposal(ids[0], 'adopt pattern 17')
console.log(`propose  ada  "${adopt.payload.text}": ${await nodes[0].propose(adopt)}`)
await sleep(50)
console.log(`propose  cy   the same again: ${await nodes[2].propose(adopt)} (pooled or decided already)`)
console.log(`propose  dee  "retire pattern 3": ${await nodes[3].propose(proposal(ids[3], 'retire pattern 3'))}`)
await Promise.all(watchers)

// A decided height from storage: its certificate travels as JSON and verifies anywhere.
const stored = await nodes[1].decided(1)
const text = stored.certificate.toJson()
Certificate.fromJson(text).verifyBatch(stored.batchJson, document)
console.log(`stored   bob  height 1: certificate of ${text.length} bytes, value ${stored.certificate.value.slice(0, 16)}...`)
const s = nodes[1].consensusStatus()
console.log(`status   bob  decided ${s.decided}, linked ${s.linked}, ${s.engine.received} messages in, ` +
  `${s.engine.broadcasts} broadcast, ${s.engine.persisted} logged`)

// Leave; an open node would keep the process alive.
await Promise.all(nodes.map((n) => n.close()))
for (const d of dirs) rmSync(d, { recursive: true, force: true })
