// Consensus on the Node.js node: four validators on loopback (UDP membership, TCP consensus
// links) with temp data directories and fast timings (the core's loopback tests' timeouts:
// propose 300 ms, prevote and precommit 150, delta 50, rebroadcast 300) decide a proposal; every
// node's consensusEvents() yields the decision, whose certificate verifies offline against the
// document; then what is refused, with which kind and message; then the streams' and the
// process's ends.
import { after, afterEach, test as nodeTest } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { getEventListeners } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import {
  BizraError, Certificate, ConsensusEvents, Envelope, FederationDocument, GateChain, Identity, Node, REJECT_CODES,
} from 'bizra'

const FEDERATION = 'loopback'
const FAST = {
  bind: '127.0.0.1:0',
  federation: FEDERATION,
  probePeriodMs: 100,
  probeRttMs: 40,
  suspectToDownAfterMs: 500,
  gossipIntervalMs: 30,
  rejoinIntervalMs: 500,
  announceIntervalMs: 2000,
}
const TIMEOUTS_MS = { propose: 300, prevote: 150, precommit: 150, delta: 50, rebroadcast: 300 }
// Long enough for a slow, busy machine; a healthy run decides in well under a second.
const WITHIN = 15_000
const here = dirname(fileURLToPath(import.meta.url))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn)
after(() => {
  setTimeout(() => {
    console.error('the event loop is still kept alive 10 s after the last test (an open node?)')
    process.exit(1)
  }, 10_000).unref()
})

// Every node a test starts is stopped after it, and every data directory removed.
const nodes = []
const dirs = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function dataDir() {
  const d = mkdtempSync(join(tmpdir(), 'bizra-consensus-'))
  dirs.push(d)
  return d
}

/** The document of a federation of `n` validators (power 1 each), and their identities. */
function federation(n) {
  const ids = Array.from({ length: n }, () => Identity.generate())
  const doc = FederationDocument.fromJson(
    JSON.stringify({
      federation: FEDERATION,
      epoch: 1,
      timeouts_ms: TIMEOUTS_MS,
      validators: ids.map((id) => ({ key: id.publicKeyHex, power: 1 })),
    }),
  )
  return { ids, doc }
}

async function start(identity, options = {}) {
  const node = await Node.start(identity, { ...FAST, ...options })
  nodes.push(node)
  return node
}

/** What `promise` resolves to, or 'timeout' after `ms`. */
async function within(promise, ms) {
  let timer
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, ms, 'timeout')
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function eventually(check, what) {
  const deadline = Date.now() + WITHIN
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${WITHIN} ms`)
    await sleep(20)
  }
}

/** Four validators joined through the first, each linked to the three others. */
async function cluster(options = {}) {
  const { ids, doc } = federation(4)
  const first = await start(ids[0], { document: doc, dataDir: dataDir(), ...options })
  const rest = await Promise.all(
    ids.slice(1).map((id) => start(id, { document: doc, dataDir: dataDir(), seeds: [first.localAddr], ...options })),
  )
  const all = [first, ...rest]
  await eventually(() => all.every((n) => n.consensusStatus().linked === 3), 'every validator linked to the three others')
  return { ids, doc, nodes: all }
}

const proposal = (by, text, scores = { snr: 0.9, ihsan: 0.97 }) =>
  Envelope.create(by, { type: 'bizra.proposal', text }, { scores, ttl: 600 })

/** The next consensus event on `events`, failing after WITHIN. */
async function nextEvent(events) {
  const step = await within(events.next(), WITHIN)
  assert.notEqual(step, 'timeout', `no consensus event within ${WITHIN} ms`)
  assert.equal(step.done, false, 'the stream ended')
  return step.value
}

const invalidInput = (re) => (e) => {
  assert.ok(e instanceof BizraError, `expected BizraError, got ${e}`)
  assert.equal(e.kind, 'INVALID_INPUT', e.message)
  assert.match(e.message, re)
  return true
}

test('four validators decide a proposal; every node sees the decision and its certificate verifies', async () => {
  const { ids, doc, nodes: all } = await cluster({ gates: new GateChain() })
  for (const n of all) {
    const s = n.consensusStatus()
    assert.equal(s.validator, true)
    assert.equal(s.decided, 0)
    assert.equal(s.failure, undefined)
  }
  const streams = all.map((n) => n.consensusEvents())
  assert.ok(streams.every((s) => s instanceof ConsensusEvents))
  const envelope = proposal(ids[0], 'adopt pattern 17')
  const proposing = all[0].propose(envelope)
  assert.ok(proposing instanceof Promise)
  assert.equal(await proposing, true)

  const decisions = await Promise.all(streams.map(nextEvent))
  for (const [i, d] of decisions.entries()) {
    assert.deepEqual(Object.keys(d).sort(), ['batchJson', 'certificate', 'height', 'kind', 'proposals', 'round'])
    assert.equal(d.kind, 'decided')
    assert.equal(d.height, 1)
    assert.ok(Number.isInteger(d.round) && d.round >= 0)
    assert.ok(d.certificate instanceof Certificate)
    assert.equal(d.certificate.height, 1)
    assert.equal(d.certificate.round, d.round)
    assert.equal(d.certificate.federation, FEDERATION)
    assert.equal(d.certificate.epoch, 1)
    assert.ok(d.certificate.signatures.length >= 3, `${d.certificate.signatures.length} signatures`)
    // Offline, against the document alone: the signatures, the power, and the batch.
    d.certificate.verify(doc)
    d.certificate.verifyBatch(d.batchJson, doc)
    Certificate.fromJson(d.certificate.toJson()).verifyBatch(d.batchJson, doc)
    assert.equal(d.proposals.length, 1)
    assert.ok(d.proposals[0] instanceof Envelope)
    assert.equal(d.proposals[0].id, envelope.id)
    assert.equal(d.proposals[0].toJson(), envelope.toJson())
    // Agreement: one batch, one value, at every node.
    assert.equal(d.batchJson, decisions[0].batchJson, `node ${i}`)
    assert.equal(d.certificate.value, decisions[0].certificate.value)
  }
  // Another batch is not the certified value.
  const other = JSON.stringify([JSON.parse(proposal(ids[1], 'another').toJson())])
  assert.throws(() => decisions[0].certificate.verifyBatch(other, doc), (e) => e.kind === 'CERTIFICATE_REFUSED' && e.code === 'VALUE_MISMATCH')

  // decided(1): the same decision, from each node's storage.
  for (const [i, n] of all.entries()) {
    const stored = await n.decided(1)
    assert.equal(stored.kind, 'decided')
    assert.equal(stored.height, 1)
    assert.equal(stored.batchJson, decisions[i].batchJson)
    assert.ok(stored.certificate.equals(decisions[i].certificate), `node ${i}: the certificate it announced`)
    stored.certificate.verifyBatch(stored.batchJson, doc)
  }
  assert.equal(await all[1].decided(2), null)
  assert.equal(await all[1].decided(0), null)
  for (const n of all) {
    const s = n.consensusStatus()
    assert.equal(s.decided, 1)
    assert.ok(s.height >= 1 && s.engine.decided >= 1, inspect(s))
    assert.ok(s.engine.received > 0 && s.engine.broadcasts > 0, inspect(s.engine))
    assert.equal(s.linked, 3)
    assert.equal(s.pending, 0)
  }

  // The same proposal again: already decided, not pooled twice, on any node.
  assert.equal(await all[0].propose(envelope), false)
  assert.equal(await all[2].propose(envelope), false)
  // Not a proposal: the payload's type is not bizra.proposal.
  const plain = Envelope.create(ids[0], { answer: 4 }, { scores: { snr: 0.9, ihsan: 0.97 } })
  await assert.rejects(all[0].propose(plain), invalidInput(new RegExp(`envelope ${plain.id} is not a proposal`)))
  // Refused by the node's gate chain: below the constitution's Ihsan threshold.
  const weak = proposal(ids[0], 'weak', { snr: 0.9, ihsan: 0.5 })
  await assert.rejects(all[0].propose(weak), (e) => {
    assert.ok(e instanceof BizraError, String(e))
    assert.equal(e.kind, 'REJECTED')
    assert.equal(e.code, 'GATE_IHSAN')
    assert.equal(e.reject, REJECT_CODES.GATE_IHSAN)
    return true
  })
  assert.throws(() => all[0].propose(plain.toJson()), (e) => e instanceof TypeError && /^envelope must be an Envelope$/.test(e.message))
  for (const bad of [-1, 1.5, '1', undefined]) {
    assert.throws(() => all[0].decided(bad), TypeError, String(bad))
  }

  // A second proposal, from another validator, is the next height everywhere.
  const second = proposal(ids[3], 'adopt pattern 18')
  assert.equal(await all[3].propose(second), true)
  for (const s of streams) {
    const d = await nextEvent(s)
    assert.equal(d.height, 2)
    assert.deepEqual(d.proposals.map((p) => p.id), [second.id])
    d.certificate.verifyBatch(d.batchJson, doc)
  }
  for (const s of streams) s.close()
})

test('a node without a document takes no part in consensus', async () => {
  const node = await start(Identity.generate())
  assert.equal(node.consensusStatus(), null)
  const envelope = proposal(Identity.generate(), 'nobody decides this')
  await assert.rejects(node.propose(envelope), invalidInput(/takes no part in consensus \(start it with a document: Node\.start\(identity, \{ document, dataDir/))
  await assert.rejects(node.decided(1), invalidInput(/takes no part in consensus/))
  // The core's rule: its consensus stream has ended already.
  const events = node.consensusEvents()
  assert.deepEqual(await within(events.next(), WITHIN), { value: undefined, done: true })
  assert.equal(events.closed, true)
})

/** What `Node.start` threw or rejected with for `options` (a node that started fails the test). */
async function refusal(options, identity = Identity.generate()) {
  try {
    const node = await Node.start(identity, options)
    await node.stop()
  } catch (e) {
    return e
  }
  assert.fail(`started with ${inspect(options)}`)
}

test('bad consensus options are refused, naming the problem', async () => {
  const { ids, doc } = federation(1)
  const withJsGate = new GateChain()
  withJsGate.addGate('mine', 'cheap', () => true)
  const other = FederationDocument.fromJson(doc.toJson().replace(`"${FEDERATION}"`, '"elsewhere"'))
  const cases = [
    [{ document: doc.toJson(), dataDir: dataDir() }, TypeError, /^document must be a FederationDocument$/],
    [{ document: {}, dataDir: dataDir() }, TypeError, /^document must be a FederationDocument$/],
    [{ document: doc, gates: {}, dataDir: dataDir() }, TypeError, /^gates must be a GateChain$/],
    [{ document: doc, gates: doc, dataDir: dataDir() }, TypeError, /^gates must be a GateChain$/],
    [{ documnet: doc }, TypeError, /^unknown option documnet \(did you mean document\?\)$/],
    [{ gate: new GateChain() }, TypeError, /did you mean gates\?/],
    [{ gates: new GateChain(), dataDir: dataDir() }, 'INVALID_INPUT', /gates judges consensus proposals, so it needs a document/],
    [{ document: doc, gates: withJsGate, dataDir: dataDir() }, 'INVALID_INPUT', /gates holds JavaScript gates \(mine\), which run only on the JavaScript thread/],
    // The core's rules, in this binding's words.
    [{ document: doc }, 'INVALID_INPUT', /consensus \(a document\) needs a dataDir: the write-ahead log must outlive the process/],
    [{ document: other, dataDir: dataDir() }, 'INVALID_INPUT', /the federation document is federation "elsewhere"'s, this node's is "loopback"/],
  ]
  for (const [options, expected, re] of cases) {
    const e = await refusal({ ...FAST, ...options }, ids[0])
    const what = inspect(options, { depth: 0 })
    if (expected === TypeError) {
      assert.ok(e instanceof TypeError, `${what}: expected TypeError, got ${e}`)
    } else {
      assert.ok(e instanceof BizraError, `${what}: expected BizraError, got ${e}`)
      assert.equal(e.kind, expected, `${what}: ${e.message}`)
    }
    assert.match(e.message, re, what)
    assert.doesNotMatch(e.message, /data_dir|NodeConfig/, what)
  }
  // Checked before anything starts: these throw at the call.
  assert.throws(() => Node.start(ids[0], { ...FAST, document: 'doc' }), TypeError)
  assert.throws(() => Node.start(ids[0], { ...FAST, gates: new GateChain() }), invalidInput(/needs a document/))
})

test('a lone validator decides alone; its gate chain is frozen while it runs', async () => {
  const { ids, doc } = federation(1)
  const chain = new GateChain()
  const node = await start(ids[0], { document: doc, gates: chain, dataDir: dataDir() })
  // The chain judges the node's proposals: it cannot change under it, but still judges here.
  assert.throws(() => chain.addBuiltin('snr'), invalidInput(/judges the proposals of a running node/))
  assert.throws(() => chain.setReportAll(true), invalidInput(/running node/))
  const envelope = proposal(ids[0], 'alone')
  assert.equal(chain.check(envelope).passed, true)
  const events = node.consensusEvents()
  assert.equal(await node.propose(envelope), true)
  const d = await nextEvent(events)
  assert.equal(d.height, 1)
  assert.equal(d.certificate.signatures.length, 1)
  d.certificate.verifyBatch(d.batchJson, doc)
  await node.stop()
  chain.setReportAll(true) // free again once the node has ended
})

test('break, return(), close(), a signal and the end of the node end a consensus stream', async () => {
  const { ids, doc } = federation(1)
  const node = await start(ids[0], { document: doc, dataDir: dataDir() })
  const broken = node.consensusEvents()
  assert.equal(broken[Symbol.asyncIterator](), broken)
  assert.equal(await node.propose(proposal(ids[0], 'one')), true)
  for await (const e of broken) {
    assert.equal(e.kind, 'decided')
    break
  }
  assert.equal(broken.closed, true)
  assert.deepEqual(await broken.next(), { value: undefined, done: true })

  const closed = node.consensusEvents()
  const pending = closed.next()
  closed.close()
  assert.deepEqual(await pending, { value: undefined, done: true })
  assert.deepEqual(await node.consensusEvents().return(), { value: undefined, done: true })
  const disposed = node.consensusEvents()
  disposed[Symbol.dispose]()
  assert.equal(disposed.closed, true)

  const controller = new AbortController()
  const signalled = node.consensusEvents({ signal: controller.signal })
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1)
  const waiting = signalled.next()
  controller.abort()
  assert.deepEqual(await waiting, { value: undefined, done: true })
  assert.deepEqual(await node.consensusEvents({ signal: AbortSignal.abort() }).next(), { value: undefined, done: true })
  assert.throws(() => node.consensusEvents({ signl: controller.signal }), (e) => e instanceof TypeError && /did you mean signal\?/.test(e.message))

  // The node's end ends its streams (after the events it sent before), and later calls throw.
  const longLived = new AbortController().signal
  const open = node.consensusEvents({ signal: longLived })
  assert.equal(await node.propose(proposal(ids[0], 'two')), true)
  const reading = (async () => {
    const seen = []
    for await (const e of open) seen.push(e.height)
    return seen
  })()
  await eventually(() => node.consensusStatus().decided === 2, 'height 2 decided')
  await node.leave()
  assert.deepEqual(await within(reading, WITHIN), [2])
  assert.equal(open.closed, true)
  await eventually(() => getEventListeners(longLived, 'abort').length === 0, "the signal's listener removed")
  await assert.rejects(async () => node.propose(proposal(ids[0], 'three')), invalidInput(/has left/))
  assert.throws(() => node.decided(1), invalidInput(/has left/))
  assert.throws(() => node.consensusStatus(), invalidInput(/has left/))
  assert.throws(() => node.consensusEvents(), invalidInput(/has left/))
})

test('a consensus node keeps the process alive; closed, it lets the process exit', () => {
  // A lone validator in a fresh process: it decides, then ends, and the process exits by itself.
  const script = (body) => `import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Envelope, FederationDocument, Identity, Node } from 'bizra'
const me = Identity.generate()
const document = FederationDocument.fromJson(JSON.stringify({ federation: 'solo', epoch: 1,
  timeouts_ms: ${JSON.stringify(TIMEOUTS_MS)}, validators: [{ key: me.publicKeyHex, power: 1 }] }))
const node = await Node.start(me, { bind: '127.0.0.1:0', federation: 'solo', document,
  dataDir: mkdtempSync(join(tmpdir(), 'bizra-solo-')) })
const events = node.consensusEvents()
await node.propose(Envelope.create(me, { type: 'bizra.proposal' }, { scores: { snr: 0.9, ihsan: 0.97 } }))
const { value } = await events.next()
value.certificate.verifyBatch(value.batchJson, document)
console.log('decided', value.height)
${body}`
  const run = (body, timeout = WITHIN) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', script(body)], { cwd: dirname(here), encoding: 'utf8', timeout })
  const open = run('', 3000)
  assert.equal(open.stdout, 'decided 1\n', open.stderr)
  assert.equal(open.signal, 'SIGTERM', 'still running when killed')
  for (const body of ['await node.close()', 'await node.stop()', 'node.dispose()', 'const p = events.next(); await node.leave(); console.log(JSON.stringify(await p))']) {
    const closed = run(body)
    assert.equal(closed.signal, null, `${body}: killed (${closed.signal}): the process did not exit`)
    assert.equal(closed.status, 0, `${body}: ${closed.stderr}`)
    assert.match(closed.stdout, /^decided 1\n/, body)
  }
})
