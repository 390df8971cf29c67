// bizra federation for Node: four members on loopback UDP join through a seed, one leaves, one
// crashes.
//
// Every datagram is signed by its sender's node key; the membership is SWIM (probes, suspicion,
// gossip). The timings are a LAN's divided by ten so that the demo takes seconds: a probe every
// 100 ms, 500 ms to refute a suspicion. Run it with `make demo-node-federation` (or
// `node examples/node/federation.mjs` once the package is installed).
import { Identity, Node } from 'bizra'

async function start(name, seeds = []) {
  const node = await Node.start(Identity.generate(), {
    bind: '127.0.0.1:0', // port 0: any free port
    seeds,
    federation: 'demo',
    probePeriodMs: 100,
    probeRttMs: 40, // below the probe period
    suspectToDownAfterMs: 500,
    gossipIntervalMs: 30,
    rejoinIntervalMs: 500,
  })
  console.log(`started  ${name} ${node.nodeId.slice(0, 8)} on ${node.localAddr}`)
  return node
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const time = (date) => date.toISOString().slice(11, 23) // to the millisecond, UTC

function show(names, node, label) {
  const members = node.members().map((m) => `${names.get(m.nodeId) ?? '?'}=${m.state}`).sort()
  console.log(`${label.padEnd(8)} ${members.join(' ')}`)
}

/** Whether every node lists every other one as alive. */
const converged = (nodes) =>
  nodes.every((n) => n.members().filter((m) => m.state === 'alive').length === nodes.length - 1)

/** Prints the seed's events until `until` members have gone, by leaving or by being declared
 * down. The stream waits off the main thread: the event loop runs on meanwhile. */
async function watch(seed, names, until) {
  let gone = 0
  for await (const event of seed.events({ signal: AbortSignal.timeout(30_000) })) {
    const name = names.get(event.member.nodeId) ?? '?'
    console.log(`event    ${event.kind.padEnd(11)} ${name} at ${time(event.at)}`)
    if (event.kind === 'left' || event.kind === 'down') gone++
    if (gone === until) return // `break` and `return` end the stream; the node runs on
  }
  throw new Error(`only ${gone} of ${until} members gone within 30 s`)
}

const seed = await start('seed')
const others = new Map()
for (const name of ['ada', 'bob', 'cy']) others.set(name, await start(name, [seed.localAddr]))
const nodes = [seed, ...others.values()]
const names = new Map([['seed', seed], ...others].map(([name, n]) => [n.nodeId, name]))

// Each member knows only the seed's address; the membership spreads by gossip.
const began = performance.now()
while (!converged(nodes)) await sleep(20)
console.log(`converged in ${((performance.now() - began) / 1000).toFixed(2)} s`)
show(names, seed, 'seed')

const watcher = watch(seed, names, 2)
await sleep(200) // the watcher first hears of everyone alive
console.log('ada      leaves (says goodbye)')
await others.get('ada').leave()
await sleep(500)
console.log('bob      stops (silent, as after a crash)')
await others.get('bob').stop()
await watcher

show(names, seed, 'seed')
show(names, others.get('cy'), 'cy')
const stats = seed.stats()
const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0)
console.log(`seed     sent ${stats.sent}, received ${stats.received}, dropped ${dropped}`)
// Leave (harmless for the two already gone); an open node would keep the process alive.
await Promise.all(nodes.map((n) => n.close()))
