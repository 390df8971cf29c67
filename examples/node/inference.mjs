// bizra embedded inference for Node: load a GGUF model, stream an answer, get it back as a signed
// envelope with measured scores, put it through the gate chain, compare embeddings.
//   node inference.mjs [model.gguf]   (default: SmolLM2-135M-Instruct Q4_1, fetched by `make model`)
import { homedir } from 'node:os'
import { join } from 'node:path'
import { BizraError, Envelope, GateChain, Identity, Model } from 'bizra'

const path = process.argv[2] ?? join(homedir(), '.cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf')

// 1. Load the model (off the main thread; a missing or damaged file rejects with code MODEL).
let model
try {
  model = await Model.load(path, { nCtx: 2048 })
} catch (e) {
  if (!(e instanceof BizraError)) throw e
  console.error(`cannot load ${path}: ${e.code}: ${e.message}`)
  process.exit(1)
}
console.log(`${model.name}: ${model.architecture}, ${(model.parameters / 1e6).toFixed(0)}M weights, ${model.quantization}, tier ${model.tier}`)

// 2. Stream an answer: pieces arrive as they are generated, and the stream ends with the signed
//    envelope. `break`, `stream.cancel()` and the signal (here: a time limit) stop the
//    generation at its next token; the stream still ends with the envelope of the answer so far
//    (finish_reason "cancelled").
const id = Identity.generate()
const stream = model.stream(id, 'What is the capital of France?', {
  temperature: 0,
  maxTokens: 64,
  signal: AbortSignal.timeout(120_000),
})
process.stdout.write('answer: ')
let envelope
for await (const item of stream) {
  if (item instanceof Envelope) envelope = item
  else process.stdout.write(item)
}
process.stdout.write('\n')

// 3. The answer as a signed PCI envelope: what produced it (weights hash, prompt hash, every
//    sampling parameter) and scores measured on it. (`await stream.envelope()` gives it too.)
envelope.verify()
const { payload } = envelope
console.log(`envelope ${envelope.id}: ${payload.tokens.completion} tokens, finish ${payload.finish_reason}, snr ${envelope.scores.snr.toFixed(3)}, ihsan ${envelope.scores.ihsan.toFixed(3)}`)

// 4. The gate chain judges it by those scores. The engine cannot measure correctness, safety,
//    user benefit or fairness: unless the caller vouches for them (option `ihsan`), they count 0
//    and the Ihsan gate refuses.
const report = new GateChain().check(envelope)
console.log(`gate chain: ${report.passed ? 'admitted' : `refused (${report.code})`}; not measured: ${payload.scores.ihsan.unmeasured.join(', ')}`)
const checked = await model.generate(id, 'What is the capital of France?', {
  temperature: 0,
  maxTokens: 64,
  ihsan: { correctness: 1, safety: 1, userBenefit: 1, adlFairness: 1 }, // e.g. after your own checks
})
const vouched = new GateChain().check(checked)
console.log(`vouched for: ihsan ${checked.scores.ihsan.toFixed(3)}, ${vouched.passed ? 'admitted' : `refused (${vouched.code})`}`)

// 5. Sentence embeddings (L2-normalised: the dot product is the cosine similarity).
const [a, b, c] = await Promise.all(
  ['The cat sat on the mat.', 'A cat was sitting on the rug.', 'Revenue rose by eight percent.'].map((t) => model.embed(t)),
)
const cos = (x, y) => x.reduce((s, v, i) => s + v * y[i], 0)
console.log(`similarity: paraphrase ${cos(a, b).toFixed(3)}, unrelated ${cos(a, c).toFixed(3)}`)

// 6. Done with the model: release it (`using model = await Model.load(...)` does this by itself).
//    Options are checked strictly: a misspelt key throws a TypeError naming the right one.
try {
  model.generate(id, 'Hi', { max_tokens: 3 })
} catch (e) {
  console.log(`${e.name}: ${e.message}`)
}
model.dispose()
