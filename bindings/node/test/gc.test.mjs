// Finalizers run during garbage collection (the addon opts into it: see
// `node_api_module_get_api_version_v1` in src/lib.rs).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Envelope, Identity } from 'bizra'

const here = dirname(fileURLToPath(import.meta.url))
const MODEL_PATH = process.env.BIZRA_TEST_MODEL || join(homedir(), '.cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf')

test('objects of every kind survive forced collections (no finalizer aborts the process)', () => {
  assert.ok(existsSync(MODEL_PATH), `the test model is missing at ${MODEL_PATH}: run \`make model\``)
  const run = spawnSync(process.execPath, ['--expose-gc', join(here, 'gc-stress.mjs'), MODEL_PATH], {
    cwd: here,
    encoding: 'utf8',
    timeout: 300_000,
  })
  assert.equal(run.signal, null, `killed by ${run.signal}: ${run.stderr}`)
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout.trim(), 'ok')
})

test('envelopes made in a synchronous loop are freed while it runs', () => {
  // Queued finalizers would keep every envelope's native memory (about 2 KiB) until the loop
  // ends: 200 000 of them would hold some 400 MB.
  const id = Identity.fromSeed(new Uint8Array(32).fill(5))
  const payload = { text: 'x'.repeat(1000) }
  const before = process.memoryUsage().rss
  for (let i = 0; i < 200_000; i++) Envelope.create(id, payload)
  const grown = (process.memoryUsage().rss - before) / 2 ** 20
  assert.ok(grown < 100, `RSS grew by ${grown.toFixed(0)} MiB during the loop`)
})
