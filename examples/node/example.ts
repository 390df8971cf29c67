// A TypeScript user of bizra; `make test-node` checks it with `tsc --noEmit --strict`.
import {
  BizraError, Constitution, Envelope, GateChain, type GateReport, HardwareProfile, Identity,
  REJECT_CODES, ReplayCache, selectTier, verifyBatch, verifyMessage,
} from 'bizra'

const id: Identity = Identity.fromSeed(new Uint8Array(32))
const sig: Buffer = id.sign(new TextEncoder().encode('hello'))
const valid: boolean = verifyMessage(id.publicKey, new TextEncoder().encode('hello'), sig)

const env: Envelope = Envelope.create(id, { answer: 4 }, { ttl: 60, scores: { snr: 0.9, ihsan: 0.97 } })
const when: Date = env.timestamp
const payload: unknown = env.payload
const cache = new ReplayCache(1000)

try {
  Envelope.parse(env.toJson()).verify({ now: new Date(), replay: cache, policy: Constitution.default().hash })
} catch (e: unknown) {
  if (e instanceof BizraError) {
    const code: string = e.code
    const reject: number | undefined = e.reject
    console.log(code, reject === REJECT_CODES.EXPIRED)
  }
}

const chain = new GateChain(Constitution.default())
chain.addGate('mine', 'cheap', (e: Envelope, now: Date) => (e.ttl > 0 && now instanceof Date ? true : 'bad ttl'))
const report: GateReport = chain.check(env, { now: new Date() })
const first: string | undefined = report.code ?? undefined

async function main(): Promise<number[]> {
  return verifyBatch([env], { now: new Date() })
}

const tier: string = selectTier('explain this', 100).tier
const hw: HardwareProfile = HardwareProfile.detect()
console.log(valid, when, payload, first, tier, hw.cpuCores, main)
