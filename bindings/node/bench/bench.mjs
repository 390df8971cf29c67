// `make bench-node`: envelope create and verify (1 KiB payload) from Node, beside the Rust core
// (bizra-node-bench, same payload, same run) and beside plain JavaScript (node:crypto Ed25519 +
// @noble/hashes BLAKE3 + canonicalize for JCS). The three alternate over ROUNDS rounds, each round
// of each side in a fresh process (`bench.mjs node` / `bench.mjs js` measure one round and print
// JSON, as the Rust binary does), and each side keeps its best round: the machine is shared, and
// both a neighbour's burst in one side's turn and one process's luck (code and heap placement
// differ from process to process, by up to ~5% for the same build) would otherwise decide the
// ratio. Prints a table with ratios.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createPrivateKey, sign as edSign, verify as edVerify, createPublicKey } from 'node:crypto'
import { createRequire } from 'node:module'
import { blake3 } from '@noble/hashes/blake3'
import canonicalizeMod from 'canonicalize'

const require = createRequire(import.meta.url)
const { Envelope, Identity, Constitution, DEFAULT_TTL_SECONDS } = require('../index.js')
const canonicalize = canonicalizeMod.default ?? canonicalizeMod

const MS = Number(process.env.BENCH_MS ?? 600)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const payload = {
  model: 'smollm2-135m',
  prompt: 'Summarize the following text in one sentence. '.repeat(6).trim(),
  answer: 'The text repeats one instruction several times; nothing else is said. '.repeat(10).trim(),
  tokens: 128,
  scores: [0.93, 0.97],
}
const payloadJson = JSON.stringify(payload)
const at = new Date('2026-01-30T00:00:00.000Z')

function perOp(f) {
  for (let i = 0; i < 200; i++) f()
  const start = process.hrtime.bigint()
  const budget = BigInt(MS) * 1_000_000n
  let n = 0
  while (process.hrtime.bigint() - start < budget) {
    for (let i = 0; i < 100; i++) f()
    n += 100
  }
  return Number(process.hrtime.bigint() - start) / n
}

// Node binding.
const seed = new Uint8Array(32).fill(7)
const id = Identity.fromSeed(seed)
const opts = { scores: { snr: 0.93, ihsan: 0.97 }, timestamp: at }
const env = Envelope.create(id, payload, opts)
const nodeRound = () => ({
  create_ns: perOp(() => Envelope.create(id, payload, opts)),
  verify_ns: perOp(() => env.verify({ now: at })),
})

// Rust core, same payload, in its own process.
const rustBin = process.env.BIZRA_RUST_BENCH
const rustRound = () => JSON.parse(execFileSync(rustBin, [payloadJson, String(MS)], { encoding: 'utf8' }))

// Plain JavaScript: the same envelope with node:crypto Ed25519, @noble/hashes BLAKE3, canonicalize.
const enc = new TextEncoder()
const tag = enc.encode('bizra-pci-v1:')
const h = (bytes) => {
  const hasher = blake3.create({})
  hasher.update(tag)
  hasher.update(bytes)
  return hasher.digest()
}
const toHex = (b) => Buffer.from(b).toString('hex')
const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed)])
const sk = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
const pk = createPublicKey(sk)
const pubHex = id.publicKeyHex
const policy = Constitution.default().hash
function jsCreate(p) {
  const header = {
    version: '1.0',
    id: 'pci_' + toHex(crypto.getRandomValues(new Uint8Array(16))),
    sender: pubHex.slice(0, 32),
    public_key: pubHex,
    timestamp: at.toISOString(),
    ttl: DEFAULT_TTL_SECONDS,
    content_hash: toHex(h(enc.encode(canonicalize(p)))),
    provenance: [],
    scores: { snr: 0.93, ihsan: 0.97 },
    policy,
  }
  const signature = toHex(edSign(null, h(enc.encode(canonicalize(header))), sk))
  return { ...header, payload: p, signature }
}
function jsVerify(e) {
  const { payload: p, signature, ...header } = e
  if (toHex(h(enc.encode(canonicalize(p)))) !== header.content_hash) throw new Error('hash')
  const now = at.getTime()
  const ts = Date.parse(header.timestamp)
  if (now > ts + header.ttl * 1000 || ts > now + 120_000) throw new Error('time')
  if (!edVerify(null, h(enc.encode(canonicalize(header))), pk, Buffer.from(signature, 'hex'))) throw new Error('sig')
}
const jsEnv = jsCreate(payload)
// The plain-JS envelope is the same bytes the core makes (with its id): a cross-check.
const check = Envelope.parse(JSON.stringify(jsEnv))
check.verify({ now: at })
const jsRound = () => ({ create_ns: perOp(() => jsCreate(payload)), verify_ns: perOp(() => jsVerify(jsEnv)) })

// A child measures one round of its side.
const side = process.argv[2]
if (side === 'node' || side === 'js') {
  console.log(JSON.stringify((side === 'node' ? nodeRound : jsRound)()))
  process.exit(0)
}
const self = fileURLToPath(import.meta.url)
const childRound = (name) => () =>
  JSON.parse(execFileSync(process.execPath, [self, name], { encoding: 'utf8', env: process.env }))

const best = { rust: {}, node: {}, js: {} }
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, round] of [['rust', rustRound], ['node', childRound('node')], ['js', childRound('js')]]) {
    for (const [op, ns] of Object.entries(round())) best[name][op] = Math.min(best[name][op] ?? Infinity, ns)
  }
}

const us = (ns) => (ns / 1000).toFixed(1).padStart(8)
const ratio = (a, b) => (a / b).toFixed(2).padStart(6)
console.log(`payload: ${Buffer.byteLength(canonicalize(payload))} bytes (JCS); best of ${ROUNDS} alternating rounds of ${MS} ms per operation, each in a fresh process; node ${process.version}`)
console.log('')
console.log('operation | Rust core µs | Node binding µs | plain JS µs | binding speed vs Rust | binding speed vs plain JS')
console.log('----------|--------------|-----------------|-------------|-----------------------|--------------------------')
for (const [name, r, n, j] of [
  ['create', best.rust.create_ns, best.node.create_ns, best.js.create_ns],
  ['verify', best.rust.verify_ns, best.node.verify_ns, best.js.verify_ns],
]) {
  console.log(`${name.padEnd(9)} | ${us(r)}     | ${us(n)}        | ${us(j)}    | ${ratio(r, n)}× (target ≥ 0.85×) | ${ratio(j, n)}×`)
}
console.log('')
console.log('speed ratios: >1 means the Node binding is faster. Plain JS verify is not strict Ed25519 (node:crypto')
console.log('accepts small-order keys and does no I-JSON checks), so it does less work than the binding.')
