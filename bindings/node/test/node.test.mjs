// Federation membership through Node and NodeEvents: members on real loopback UDP, with fast
// timings (the core's own loopback tests' LAN timings divided by ten) so that joins, leaves and
// failures are seen in about a second.
import { after, afterEach, test as nodeTest } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { getEventListeners } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { BizraError, DEFAULT_NODE_PORT, Identity, Node, NodeEvents } from 'bizra'

// A probe every 100 ms, 0.5 s to refute a suspicion (as the Python suite and the core's tests).
const PROBE_MS = 100
const SUSPICION_MS = 500
const FAST = {
  bind: '127.0.0.1:0',
  probePeriodMs: PROBE_MS,
  probeRttMs: 40,
  suspectToDownAfterMs: SUSPICION_MS,
  gossipIntervalMs: 30,
  rejoinIntervalMs: 500,
  announceIntervalMs: 2000,
}
// Long enough for a slow, busy machine; a healthy run sees each event in well under a second.
const WITHIN = 15_000
const here = dirname(fileURLToPath(import.meta.url))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// A Promise the binding never settled would hang the run: each test fails after a minute, and
// once all have run, anything still keeping the event loop alive fails the file.
const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn)
after(() => {
  setTimeout(() => {
    console.error('the event loop is still kept alive 10 s after the last test (an open node?)')
    process.exit(1)
  }, 10_000).unref()
})

// Every node a test starts is stopped after it (harmless for those already gone).
const nodes = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

async function start(seeds = [], options = {}) {
  const { identity, ...rest } = options
  const node = await Node.start(identity ?? Identity.generate(), { ...FAST, seeds, ...rest })
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

/** The next step of `events`, or 'timeout' after `ms` (the `next()` then stays pending). */
const nextWithin = (events, ms) => within(events.next(), ms)

/** The first event of `kind` about `node`; fails after WITHIN, saying what was seen. */
async function waitFor(events, kind, node) {
  const seen = []
  const deadline = Date.now() + WITHIN
  for (;;) {
    const step = await nextWithin(events, Math.max(deadline - Date.now(), 0))
    if (step === 'timeout') assert.fail(`no ${kind} event for ${node.nodeId.slice(0, 8)} within ${WITHIN} ms; saw ${seen}`)
    if (step.done) assert.fail(`the stream ended before a ${kind} event for ${node.nodeId.slice(0, 8)}; saw ${seen}`)
    const e = step.value
    seen.push(`${e.kind} ${e.member.nodeId.slice(0, 8)}`)
    if (e.kind === kind && e.member.nodeId === node.nodeId) return e
  }
}

/** Every event already queued (each wait is short; the last `next()` stays pending). */
async function queued(events) {
  const out = []
  for (;;) {
    const step = await nextWithin(events, 50)
    if (step === 'timeout' || step.done) return out
    out.push(step.value)
  }
}

async function eventually(check, what) {
  const deadline = Date.now() + WITHIN
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${WITHIN} ms`)
    await sleep(20)
  }
}

const stateOf = (observer, node) => observer.members().find((m) => m.nodeId === node.nodeId)?.state

/** Waits until `a` (whose events these are) saw `b` join and `b` lists `a` alive: a node can only
 * say goodbye to the members it knows, so a test that leaves waits for this first. */
async function converge(events, a, b) {
  await waitFor(events, 'joined', b)
  await eventually(() => stateOf(b, a) === 'alive', `${b.nodeId.slice(0, 8)} lists ${a.nodeId.slice(0, 8)}`)
}

const invalidInput = (re) => (e) => {
  assert.ok(e instanceof BizraError, `expected BizraError, got ${e}`)
  assert.equal(e.kind, 'INVALID_INPUT', e.message)
  assert.match(e.message, re)
  return true
}

test('two nodes see each other join', async () => {
  const me = Identity.generate()
  const other = Identity.generate()
  const a = await start([], { identity: me })
  assert.ok(a instanceof Node)
  const aEvents = a.events()
  assert.ok(aEvents instanceof NodeEvents)
  const b = await start([a.localAddr], { identity: other })
  const bEvents = b.events()
  const joined = await waitFor(aEvents, 'joined', b)
  await waitFor(bEvents, 'joined', a)

  assert.deepEqual(Object.keys(joined).sort(), ['at', 'kind', 'member'])
  assert.equal(joined.member.nodeId, other.nodeId)
  assert.ok(Buffer.isBuffer(joined.member.publicKey))
  assert.deepEqual(joined.member.publicKey, other.publicKey)
  assert.equal(joined.member.addr, b.localAddr)
  assert.equal(b.localAddr, b.advertisedAddr)
  assert.equal(joined.member.generation, b.generation)
  assert.equal(joined.member.state, 'alive')
  assert.ok(Number.isInteger(joined.member.incarnation))
  assert.ok(joined.at instanceof Date)
  assert.ok(Math.abs(joined.at - Date.now()) < WITHIN)

  await eventually(() => stateOf(a, b) === 'alive' && stateOf(b, a) === 'alive', 'both alive')
  const [seenByB, ...none] = b.members()
  assert.deepEqual(none, [])
  assert.equal(seenByB.nodeId, me.nodeId)
  assert.equal(seenByB.nodeId, a.nodeId)
  assert.deepEqual(seenByB.publicKey, me.publicKey)
  assert.equal(seenByB.addr, a.localAddr)
  assert.equal(seenByB.generation, a.generation)
  await eventually(() => b.members()[0].lastHeard !== undefined, 'a heard from')
  const heard = b.members()[0].lastHeard
  assert.ok(heard instanceof Date && Math.abs(heard - Date.now()) < WITHIN)

  // A late stream starts with a "joined" event for every member already alive, and any number of
  // streams each get every event.
  const late = a.events()
  const first = await nextWithin(late, WITHIN)
  assert.equal(first.done, false)
  assert.equal(first.value.kind, 'joined')
  assert.equal(first.value.member.nodeId, b.nodeId)
})

test('a leave is seen as "left" and ends the node at once', async () => {
  const a = await start()
  const events = a.events()
  const b = await start([a.localAddr])
  await converge(events, a, b)
  const bEvents = b.events()

  const leaving = b.leave()
  assert.ok(leaving instanceof Promise)
  assert.equal(b.running, false, 'not running from the call on')
  await leaving
  const left = await waitFor(events, 'left', b)
  assert.equal(left.member.state, 'left')
  await eventually(() => stateOf(a, b) === 'left', 'b listed as left')

  // b's stream holds what it saw before it left (a's arrival), then ends.
  const seen = []
  for await (const e of bEvents) seen.push(e.member.nodeId)
  assert.ok(seen.includes(a.nodeId), `b saw ${seen}`)
  assert.deepEqual(await bEvents.next(), { value: undefined, done: true })
  assert.equal(bEvents.closed, true)
  for (const call of [() => b.members(), () => b.stats(), () => b.events()]) {
    assert.throws(call, invalidInput(new RegExp(`the node ${b.nodeId} has left`)))
  }
  // Leaving or stopping again is harmless; what the node was stays readable.
  await b.leave()
  await b.stop()
  await b.close()
  b.dispose()
  assert.match(b.localAddr, /^127\.0\.0\.1:\d+$/)
  assert.ok(b.generation > 0)
  assert.match(String(b), /running=false\)$/)
})

test('a stopped node is declared down', async () => {
  const a = await start()
  const events = a.events()
  const b = await start([a.localAddr])
  await waitFor(events, 'joined', b)

  const stopped = Date.now()
  await b.stop()
  assert.equal(b.running, false)
  await waitFor(events, 'down', b)
  // A lone peer is probed every period: suspected within a few, down after the suspicion.
  assert.ok(Date.now() - stopped >= SUSPICION_MS)
  assert.equal(stateOf(a, b), 'down')
  assert.throws(() => b.members(), invalidInput(/was stopped/))
})

test('close(), dispose(), using and await using leave', async () => {
  const a = await start()
  const events = a.events()
  for (const end of [
    (n) => n.close(),
    (n) => n.dispose(),
    (n) => n[Symbol.dispose](), // what `using node = await Node.start(...)` calls
    (n) => n[Symbol.asyncDispose](), // what `await using` calls
  ]) {
    const b = await start([a.localAddr])
    assert.equal(b.running, true)
    await converge(events, a, b)
    await end(b)
    assert.equal(b.running, false)
    assert.throws(() => b.stats(), invalidInput(/has left/))
    await waitFor(events, 'left', b)
  }
})

test('a node collected by the garbage collector leaves', async () => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc')
  const a = await start()
  const events = a.events()
  // Made and dropped inside a function, so that nothing holds it afterwards.
  const id = await (async () => {
    const b = await Node.start(Identity.generate(), { ...FAST, seeds: [a.localAddr] })
    await converge(events, a, b)
    return b.nodeId
  })()
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise(setImmediate)
  }
  const deadline = Date.now() + WITHIN
  for (;;) {
    const step = await nextWithin(events, Math.max(deadline - Date.now(), 0))
    assert.notEqual(step, 'timeout', 'no event for the collected node')
    if (step.value.member.nodeId === id) {
      assert.equal(step.value.kind, 'left', 'a collected node says goodbye')
      return
    }
  }
})

test('an event stream ends when its node stops', async () => {
  const a = await start()
  const events = a.events()
  const seen = []
  const reading = (async () => {
    for await (const e of events) seen.push(e)
  })()
  await sleep(100)
  assert.equal(events.closed, false)
  await a.leave()
  assert.notEqual(await within(reading, WITHIN), 'timeout', 'the iteration ended with the node')
  assert.deepEqual(seen, [])
  assert.equal(events.closed, true)
  assert.deepEqual(await events.next(), { value: undefined, done: true })
  assert.throws(() => a.events(), invalidInput(/has left/))
})

test('break, return(), close() and using end a subscription; the node runs on', async () => {
  const a = await start()
  const b = await start([a.localAddr])
  const events = a.events()
  for await (const e of events) {
    if (e.kind === 'joined' && e.member.nodeId === b.nodeId) break
  }
  assert.equal(events.closed, true)
  assert.deepEqual(await events.next(), { value: undefined, done: true })
  assert.equal(a.running, true)

  // A pending next() gets the end when the stream is closed.
  const quiet = await start()
  const other = quiet.events()
  const pending = other.next()
  other.close()
  assert.deepEqual(await pending, { value: undefined, done: true })
  other.close() // twice: harmless
  assert.deepEqual(await other.return(), { value: undefined, done: true })

  const third = quiet.events()
  assert.deepEqual(await third.return(), { value: undefined, done: true })
  assert.equal(third.closed, true)
  const fourth = quiet.events()
  fourth[Symbol.dispose]() // what `using events = node.events()` calls
  assert.equal(fourth.closed, true)
  const fifth = quiet.events()
  await fifth[Symbol.asyncDispose]()
  assert.equal(fifth.closed, true)
  assert.equal(fifth[Symbol.asyncIterator](), fifth)
  assert.equal(quiet.running, true, 'closing a stream leaves its node running')
})

test('an AbortSignal ends a stream, and its listener goes with the stream', async () => {
  const a = await start()
  const controller = new AbortController()
  const events = a.events({ signal: controller.signal })
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1)
  const pending = events.next()
  controller.abort()
  assert.deepEqual(await pending, { value: undefined, done: true })
  assert.equal(events.closed, true)

  // Already aborted: over from the start.
  const dead = a.events({ signal: AbortSignal.abort() })
  assert.deepEqual(await dead.next(), { value: undefined, done: true })

  // A long-lived signal keeps no listener once its streams are over, however they end.
  const longLived = new AbortController().signal
  const closed = a.events({ signal: longLived })
  const broken = a.events({ signal: longLived })
  const ended = a.events({ signal: longLived })
  assert.equal(getEventListeners(longLived, 'abort').length, 3)
  closed.close()
  await broken.return()
  await a.stop()
  assert.deepEqual(await ended.next(), { value: undefined, done: true })
  await eventually(() => getEventListeners(longLived, 'abort').length === 0, 'listeners removed')

  const b = await start()
  assert.throws(() => b.events({ signal: {} }), (e) => e instanceof TypeError && /signal must be an AbortSignal/.test(e.message))
  assert.throws(() => b.events({ sigal: longLived }), (e) => e instanceof TypeError && /did you mean signal\?/.test(e.message))
})

test('waiting for events never blocks the event loop', async () => {
  const a = await start()
  const events = a.events()
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  try {
    const pending = events.next()
    assert.ok(pending instanceof Promise)
    await sleep(100)
    assert.ok(ticks > 3, `${ticks} timer ticks while next() waited`)
    const b = await start([a.localAddr])
    const { value, done } = await pending
    assert.equal(done, false)
    assert.equal(value.kind, 'joined')
    assert.equal(value.member.nodeId, b.nodeId)
  } finally {
    clearInterval(timer)
  }
})

test('the allowlist keeps others out', async () => {
  const keys = [Identity.generate(), Identity.generate()]
  // The keys as an Identity, as bytes and as hex: all three forms name a node.
  const allow = [keys[0], keys[1].publicKey, keys[1].publicKeyHex]
  const a = await start([], { identity: keys[0], allow })
  const events = a.events()
  const b = await start([a.localAddr], { identity: keys[1], allow: [new Uint8Array(keys[0].publicKey), keys[1]] })
  const outsider = await start([a.localAddr, b.localAddr])
  await waitFor(events, 'joined', b)
  await eventually(() => a.stats().dropped.not_admitted > 0, "the outsider's datagrams dropped")
  await sleep(5 * PROBE_MS)
  for (const n of [a, b]) assert.ok(!n.members().some((m) => m.nodeId === outsider.nodeId))
  for (const e of await queued(events)) assert.notEqual(e.member.nodeId, outsider.nodeId)
  assert.deepEqual(outsider.members(), [])
})

test('another federation is not joined', async () => {
  const a = await start([], { federation: 'one' })
  const b = await start([a.localAddr], { federation: 'two' })
  await eventually(() => a.stats().dropped.wrong_federation > 0, 'foreign datagrams dropped')
  assert.deepEqual(a.members(), [])
  assert.deepEqual(b.members(), [])
})

test('stats count traffic, and hostile datagrams are dropped and counted', async () => {
  const a = await start()
  const events = a.events()
  const b = await start([a.localAddr])
  await waitFor(events, 'joined', b)
  const stats = a.stats()
  assert.deepEqual(Object.keys(stats).sort(), ['dropped', 'eventsDropped', 'received', 'sent'])
  assert.ok(stats.sent > 0 && stats.received > 0, inspect(stats))
  assert.equal(stats.eventsDropped, 0)
  for (const reason of ['bad_signature', 'replay', 'wrong_federation', 'not_admitted', 'queue_full']) {
    assert.ok(reason in stats.dropped, reason)
  }
  assert.ok(Object.values(stats.dropped).every((n) => n === 0), inspect(stats.dropped))

  const socket = createSocket('udp4')
  const [host, port] = a.localAddr.split(':')
  await new Promise((resolve, reject) => socket.send(Buffer.from('not a datagram of ours'), Number(port), host, (e) => (e ? reject(e) : resolve())))
  socket.close()
  const total = () => Object.values(a.stats().dropped).reduce((x, y) => x + y, 0)
  await eventually(() => total() > 0, 'the stray datagram counted')
})

test('properties; the data directory counts boots', async () => {
  const me = Identity.generate()
  const dir = mkdtempSync(join(tmpdir(), 'bizra-node-'))
  try {
    const a = await start([], { identity: me, dataDir: dir })
    const [host, port] = a.localAddr.split(':')
    assert.equal(host, '127.0.0.1')
    assert.ok(Number(port) > 0)
    assert.equal(a.advertisedAddr, a.localAddr)
    assert.equal(a.nodeId, me.nodeId)
    assert.equal(a.running, true)
    assert.ok(Number.isInteger(a.generation) && a.generation > 0)
    assert.equal(String(a), `Node(nodeId="${me.nodeId}", addr="${a.localAddr}", generation=${a.generation}, running=true)`)
    assert.equal(DEFAULT_NODE_PORT, 7946)
    // A restart is a new generation.
    const first = a.generation
    await a.stop()
    const again = await start([], { identity: me, dataDir: dir })
    assert.ok(again.generation > first, `${again.generation} after ${first}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  // `advertise` is what peers are told; every timing option is taken.
  const c = await start([], {
    advertise: '127.0.0.1:9',
    expectedMembers: 3,
    removeDownAfterMs: 3_600_000,
    maxClockSkewMs: 5500.5,
  })
  assert.equal(c.advertisedAddr, '127.0.0.1:9')
  assert.notEqual(c.localAddr, c.advertisedAddr)
})

/** What `Node.start` threw or rejected with for `options` (a node that started fails the test). */
async function refusal(options) {
  try {
    const node = await Node.start(Identity.generate(), options)
    await node.stop()
  } catch (e) {
    return e
  }
  assert.fail(`started with ${inspect(options)}`)
}

test('every bad option is refused with a clear message', async () => {
  const invalid = 'INVALID_INPUT'
  const cases = [
    [{ seeds: ['127.0.0.1'] }, invalid, /seed "127\.0\.0\.1"/],
    [{ seeds: '127.0.0.1:7946' }, TypeError, /single string \(write seeds: \["127\.0\.0\.1:7946"\]\)/],
    [{ seeds: [7946] }, TypeError, /^seeds\[0\] must be a "host:port" string$/],
    [{ seeds: 7946 }, TypeError, /^seeds must be an array of "host:port" strings$/],
    [{ bind: '127.0.0.1' }, invalid, /bind "127\.0\.0\.1"/],
    [{ bind: 7946 }, TypeError, /^bind must be a string$/],
    [{ advertise: 'nowhere' }, invalid, /advertise "nowhere"/],
    [{ probePeriodMs: 0 }, invalid, /probePeriodMs must be between 1 and 31622400000 milliseconds, got 0/],
    [{ gossipIntervalMs: -1 }, invalid, /gossipIntervalMs must be between/],
    [{ rejoinIntervalMs: NaN }, invalid, /rejoinIntervalMs .*got NaN/],
    [{ suspectToDownAfterMs: 1e30 }, invalid, /suspectToDownAfterMs/],
    [{ maxClockSkewMs: Infinity }, invalid, /maxClockSkewMs/],
    // The core's rule, in the core's words, naming this binding's options.
    [{ probePeriodMs: 200, probeRttMs: 200 }, invalid, /probeRttMs \(200ms\) must be shorter than probePeriodMs \(200ms\)/],
    [{ probeRttMs: 1500 }, invalid, /probeRttMs \(1\.5s\) must be shorter than probePeriodMs \(1s\)/],
    [{ probeRttMs: true }, TypeError, /^probeRttMs must be a number$/],
    [{ probePeriodMs: '100' }, TypeError, /^probePeriodMs must be a number$/],
    [{ allow: [Buffer.alloc(5)] }, TypeError, /^allow\[0\] must be 32 bytes \(a node key\), got 5$/],
    [{ allow: ['ab'] }, TypeError, /allow\[0\] must be 64 lowercase hex characters/],
    [{ allow: [42] }, TypeError, /allow\[0\] must be a node key: an Identity, 32 bytes or 64 hex characters/],
    [{ allow: [new Float64Array(4)] }, TypeError, /allow\[0\] must be a node key/],
    [{ allow: Buffer.alloc(32) }, TypeError, /got a single key \(write allow: \[key\]\)/],
    [{ allow: 'ab'.repeat(32) }, TypeError, /got a single key/],
    [{ allow: 5 }, TypeError, /^allow must be an array of node keys/],
    [{ expectedMembers: 0 }, invalid, /expectedMembers must be at least 1, got 0/],
    [{ expectedMembers: -1 }, TypeError, /expectedMembers must be a whole number/],
    [{ federation: 7 }, TypeError, /^federation must be a string$/],
    [{ dataDir: 7 }, TypeError, /^dataDir must be a string$/],
    [{ probePeriod: 100 }, TypeError, /^unknown option probePeriod \(did you mean probePeriodMs\?\)$/],
    [{ probe_rtt_ms: 40 }, TypeError, /did you mean probeRttMs\?/],
    [{ data_dir: '/tmp' }, TypeError, /did you mean dataDir\?/],
    [{ colour: 'red' }, TypeError, /^unknown option colour; one of bind, advertise, seeds, .*maxClockSkewMs, document, gates$/],
  ]
  for (const [options, expected, re] of cases) {
    const e = await refusal({ bind: '127.0.0.1:0', ...options })
    const what = inspect(options)
    if (expected === TypeError) {
      assert.ok(e instanceof TypeError, `${what}: expected TypeError, got ${e}`)
    } else {
      assert.ok(e instanceof BizraError, `${what}: expected BizraError, got ${e}`)
      assert.equal(e.kind, expected, `${what}: ${e.message}`)
    }
    assert.match(e.message, re, what)
  }
  for (const bad of ['127.0.0.1:0', 5]) {
    assert.match((await refusal(bad)).message, /^options must be an object$/)
  }
  // Options are checked before anything starts: the throw is synchronous.
  assert.throws(() => Node.start(Identity.generate(), { probePeriodMs: 0 }), invalidInput(/probePeriodMs/))
  for (const notOne of ['me', {}, null, undefined]) {
    assert.throws(() => Node.start(notOne), (e) => e instanceof TypeError && /identity must be an Identity/.test(e.message))
  }
})

test('a port in use is an IO error naming the port', async () => {
  const taken = createSocket('udp4')
  await new Promise((resolve) => taken.bind(0, '127.0.0.1', resolve))
  try {
    const { port } = taken.address()
    const e = await refusal({ ...FAST, bind: `127.0.0.1:${port}` })
    assert.ok(e instanceof BizraError, String(e))
    assert.equal(e.kind, 'IO')
    assert.equal(e.code, 'IO')
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`))
    assert.match(e.message, /in use/i)
  } finally {
    taken.close()
  }
})

/** Runs `body` after starting a node in a fresh Node.js process; what it printed and how it ended. */
function child(body, { timeout = WITHIN, flags = [] } = {}) {
  const script = `import { Identity, Node } from 'bizra'
let node = await Node.start(Identity.generate(), { bind: '127.0.0.1:0' })
console.log('started')
${body}`
  // From the package's project, where 'bizra' resolves as it does for the suite.
  return spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
    cwd: dirname(here),
    encoding: 'utf8',
    timeout,
  })
}

test('an open node keeps the process alive; a closed one lets it exit', () => {
  const open = child('', { timeout: 2000 })
  assert.equal(open.stdout.trim(), 'started', open.stderr)
  assert.equal(open.signal, 'SIGTERM', 'still running when killed')
  for (const body of [
    'await node.close()',
    'await node.leave()',
    'await node.stop()',
    'node.dispose()',
    'const events = node.events(); await node.close()',
    // A pending next() ends with its node.
    'const p = node.events().next(); await node.stop(); console.log(JSON.stringify(await p))',
    // A pending next() of a stream closed while waiting.
    'const events = node.events(); const p = events.next(); events.close(); await p; await node.close()',
  ]) {
    const run = child(body)
    assert.equal(run.signal, null, `${body}: killed (${run.signal}): the process did not exit`)
    assert.equal(run.status, 0, `${body}: ${run.stderr}`)
    assert.match(run.stdout, /^started\n/, body)
  }
  assert.match(child('const p = node.events().next(); await node.stop(); console.log(JSON.stringify(await p))').stdout, /\{"done":true\}/)
  // A node collected while open leaves, then the process exits.
  const collected = child("node = undefined; globalThis.gc(); await new Promise(setImmediate); globalThis.gc(); console.log('dropped')", {
    flags: ['--expose-gc'],
  })
  assert.equal(collected.signal, null, `killed (${collected.signal}): the collected node kept the process alive`)
  assert.equal(collected.status, 0, collected.stderr)
  assert.equal(collected.stdout, 'started\ndropped\n')
})
