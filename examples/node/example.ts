// A TypeScript user of bizra; `make test-node` checks it with `tsc --noEmit --strict`.
import {
  BizraError, CERTIFICATE_CODES, Certificate, type ConsensusEvent, type ConsensusEvents, type ConsensusStatus,
  type Decision, type CertificateRefusalName, type CommitSignature, Constitution, DEFAULT_NODE_PORT, DEFAULT_TTL_SECONDS, Envelope, type ErrorKindName, GateChain,
  GateReport, type GenerateOptions, HardwareProfile, Identity, type Member, type MemberState, Model, Node,
  type NodeEvent, type NodeEventKind, type NodeEvents, type NodeOptions, type NodeStats, REJECT_CODES,
  ReplayCache, type RejectName, selectTier, EVIDENCE_CODES, Evidence, type EvidenceRefusalName, type EvidenceStep, FederationDocument,
  type Validator, type TokenStream, errorKinds, verifyBatch, verifyMessage,
} from 'bizra'

const id: Identity = Identity.fromSeed(new Uint8Array(32))
const sig: Buffer = id.sign(new TextEncoder().encode('hello'))
const valid: boolean = verifyMessage(id.publicKey, new TextEncoder().encode('hello'), sig)

const parent: Envelope = Envelope.create(id, { question: 'What is 2 + 2?' })
const env: Envelope = Envelope.create(id, { answer: 4 }, {
  ttl: 60, scores: { snr: 0.9, ihsan: 0.97 }, provenance: [parent], policy: Constitution.default(),
})
const when: Date = env.timestamp
const payload: unknown = env.payload
const cache = new ReplayCache(1000)
const lifetime: number = DEFAULT_TTL_SECONDS

try {
  const opened: Envelope = Envelope.open(env.toJson(), { now: new Date(), replay: cache, policy: Constitution.default() })
  console.log(opened.id)
} catch (e: unknown) {
  if (e instanceof BizraError) {
    const kind: ErrorKindName = e.kind
    const code: RejectName | CertificateRefusalName | EvidenceRefusalName | ErrorKindName = e.code
    const reject: number | undefined = e.reject
    const detail: string = e.detail
    const retryable: boolean = e.retryable
    console.log(kind, code, reject === REJECT_CODES.EXPIRED, detail, retryable, errorKinds().length)
  }
}

const chain = new GateChain(Constitution.default())
chain.addGate('mine', 'cheap', (e: Envelope, now: Date) => (e.ttl > 0 && now instanceof Date ? true : 'bad ttl'))
chain.addGate('quiet', 'medium', () => undefined)
const report: GateReport = chain.check(env, { now: new Date() })
const first: string | undefined = report.firstFailure?.name ?? report.code
console.log(report instanceof GateReport, lifetime)
report.throwIfRefused()
chain.admit(env, { now: new Date() })

function keep(path: string): void {
  id.save(path, 'correct horse', { overwrite: true })
}

async function main(): Promise<number[]> {
  return verifyBatch([env], { now: new Date() })
}

async function infer(path: string): Promise<[Envelope, Envelope, Float32Array]> {
  // `using` disposes the model when the function returns.
  using model: Model = await Model.load(path, { nCtx: 1024, threads: 2 })
  const modelTier: 'edge' | 'local' | 'pool' = model.tier
  const trained: number | null = model.contextLength
  console.log(modelTier, trained, model.fileBlake3, model.chatTemplate ?? 'no template')
  const options: GenerateOptions = {
    temperature: 0, maxTokens: 32, stop: ['\n\n'], ihsan: { correctness: 1 }, provenance: [parent],
    signal: AbortSignal.timeout(60_000), // on time out: the answer so far, finish_reason "cancelled"
  }
  const answer: Envelope = await model.generate(id, 'What is 2 + 2?', options)
  await using stream: TokenStream = model.stream(id, 'Say hello.', options)
  let text = ''
  let last: Envelope | undefined
  for await (const item of stream) {
    if (typeof item === 'string') text += item
    else last = item
  }
  const streamed: Envelope = await stream.envelope()
  console.log(last?.id === streamed.id)
  const first: IteratorResult<string | Envelope, undefined> = await model.stream(id, 'Hi').next()
  console.log(text, first.done)
  return [answer, streamed, await model.embed(text)]
}

async function federate(seed: string, dataDir: string): Promise<Member[]> {
  const options: NodeOptions = {
    bind: `0.0.0.0:${DEFAULT_NODE_PORT}`, seeds: [seed], federation: 'lab', allow: [id, id.publicKey, id.publicKeyHex],
    dataDir, expectedMembers: 8, probePeriodMs: 1000, probeRttMs: 500, suspectToDownAfterMs: 5000,
  }
  // `await using` leaves when the function returns, once the goodbye is sent.
  await using node: Node = await Node.start(id, options)
  const generation: number = node.generation
  console.log(node.nodeId, node.localAddr, node.advertisedAddr, generation, node.running)
  using events: NodeEvents = node.events({ signal: AbortSignal.timeout(10_000) })
  for await (const event of events) {
    const e: NodeEvent = event
    const kind: NodeEventKind = e.kind
    const state: MemberState = e.member.state
    const heard: Date | undefined = e.member.lastHeard
    console.log(kind, state, e.member.addr, e.member.publicKey.length, e.at.getTime(), heard)
    if (kind === 'down') break
  }
  const stats: NodeStats = node.stats()
  console.log(stats.sent, stats.received, stats.dropped['bad_signature'], stats.eventsDropped)
  const step: IteratorResult<NodeEvent, undefined> = await node.events().next()
  console.log(step.done)
  return node.members()
}

async function crash(node: Node): Promise<void> {
  await node.stop()
}

function certify(documentJson: string, certificateJson: string, batchJson: string): boolean {
  const doc: FederationDocument = FederationDocument.fromJson(documentJson)
  const validators: Validator[] = doc.validators
  console.log(doc.federation, doc.epoch, doc.totalPower, doc.hash, doc.hashBytes.length, validators[0]?.key, doc.equals(doc))
  try {
    const cert: Certificate = Certificate.fromJson(certificateJson)
    const signatures: CommitSignature[] = cert.signatures
    console.log(cert.height, cert.round, cert.value, signatures[0]?.signature.length, cert.toJson(), cert.equals(cert))
    cert.verifyBatch(batchJson, doc)
    cert.verify(doc)
    return true
  } catch (e: unknown) {
    if (e instanceof BizraError && e.kind === 'CERTIFICATE_REFUSED') {
      const name = e.code as CertificateRefusalName
      const number: number | undefined = e.certificateCode
      console.log(name, number === CERTIFICATE_CODES[name], e.detail)
    }
    return false
  }
}

function judge(doc: FederationDocument, first: Uint8Array, second: Uint8Array): number | undefined {
  const step: EvidenceStep = 'prevote'
  const evidence = new Evidence({ validator: 'ab'.repeat(32), height: 7, round: 0, step, first, second })
  try {
    evidence.verify(doc)
    return undefined
  } catch (e: unknown) {
    if (!(e instanceof BizraError) || e.kind !== 'EVIDENCE_REFUSED') throw e
    console.log(e.code, e.evidenceCode === EVIDENCE_CODES.BAD_SIGNATURE, e.detail)
    return e.evidenceCode
  }
}

async function decide(doc: FederationDocument, dataDir: string): Promise<Decision | null> {
  await using node: Node = await Node.start(id, {
    bind: '127.0.0.1:0', federation: doc.federation, document: doc, gates: new GateChain(), dataDir,
  })
  const status: ConsensusStatus | null = node.consensusStatus()
  console.log(status?.height, status?.decided, status?.linked, status?.validator, status?.engine.received, status?.failure)
  const proposal = Envelope.create(id, { type: 'bizra.proposal', text: 'adopt' }, { scores: { snr: 0.9, ihsan: 0.97 } })
  const added: boolean = await node.propose(proposal)
  using events: ConsensusEvents = node.consensusEvents({ signal: AbortSignal.timeout(10_000) })
  for await (const event of events) {
    const e: ConsensusEvent = event
    if (e.kind === 'decided') {
      const proposals: Envelope[] = e.proposals
      e.certificate.verifyBatch(e.batchJson, doc)
      console.log(added, e.height, e.round, proposals.length)
      break
    }
    const evidence: Evidence = e
    evidence.verify(doc)
    console.log(evidence.validator, evidence.height, evidence.round, evidence.step, evidence.first.length, evidence.second.length)
  }
  const step: IteratorResult<Decision | Evidence, undefined> = await node.consensusEvents().next()
  console.log(step.done)
  return node.decided(1)
}

const tier: string = selectTier('explain this', 100).tier
const hw: HardwareProfile = HardwareProfile.detect()
console.log(valid, when, payload, first, tier, hw.cpuCores, main, infer, keep, federate, crash, certify, judge, decide)
