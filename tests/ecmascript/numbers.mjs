// The ECMAScript side of tests/ecmascript_numbers.rs: what a real engine (V8) makes of numbers.
//
//   node numbers.mjs format         stdin: little-endian doubles; stdout: String(x) for each, a line each
//   node numbers.mjs parse SEED N   stdout: N lines "text<TAB>bits", the text a number that is hard to
//                                   read correctly and bits the double JSON.parse reads (16 hex
//                                   digits), or "inf" where JSON.parse overflows to ±Infinity
import { readFileSync } from 'node:fs'

const [mode, seedArg, countArg] = process.argv.slice(2)

function bitsOf(x) {
  const v = new DataView(new ArrayBuffer(8))
  v.setFloat64(0, x)
  return v.getBigUint64(0)
}

if (mode === 'format') {
  const input = readFileSync(0)
  const aligned = new Uint8Array(input) // a copy, so that the Float64Array view is 8-aligned
  const xs = new Float64Array(aligned.buffer, 0, aligned.length >> 3)
  const lines = new Array(xs.length)
  for (let i = 0; i < xs.length; i++) lines[i] = String(xs[i])
  process.stdout.write(lines.join('\n') + '\n')
} else if (mode === 'parse') {
  // xorshift64*, seeded by the caller so that a failure can be replayed.
  let s = BigInt(seedArg) | 1n
  const M64 = (1n << 64n) - 1n
  const next = () => {
    s ^= s >> 12n; s ^= (s << 25n) & M64; s ^= s >> 27n
    return (s * 0x2545f4914f6cdd1dn) & M64
  }
  const below = (n) => Number(next() % BigInt(n))
  const digits = (n) => { let d = String(1 + below(9)); while (d.length < n) d += String(below(10)); return d }
  // "d.ddd…e±x" for the exact value N × 10^q (N a BigInt), every digit of N kept.
  const sci = (N, q) => { const t = N.toString(); return `${t[0]}.${t.slice(1) || '0'}e${t.length - 1 + q}` }

  const out = []
  const count = Number(countArg)
  for (let i = 0; i < count; i++) {
    const sign = below(2) ? '-' : ''
    let text
    switch (i % 4) {
      case 0:
      case 1: {
        // The exact midpoint between a double and the next one up, or just below or above it:
        // correct rounding must look at every digit (ties go to the even double).
        const b = next() & ((1n << 63n) - 1n)
        const E = (b >> 52n) & 0x7ffn
        if (E === 0x7ffn) { i--; continue }
        const Mf = b & ((1n << 52n) - 1n)
        const m = E === 0n ? Mf : Mf | (1n << 52n)
        const e = E === 0n ? -1074n : E - 1075n
        const q = e - 1n // midpoint = (2m+1) × 2^q
        let N, p
        if (q >= 0n) { N = (2n * m + 1n) << q; p = 0 } else { N = (2n * m + 1n) * 5n ** -q; p = Number(q) }
        const t = sci(N, p)
        const [mant, exp] = t.split('e')
        const nudge = below(3) // 0: exact, 1: just below, 2: just above
        const m2 = nudge === 0 ? mant : nudge === 1 ? mant.slice(0, -1) + '4' + '9'.repeat(1 + below(30)) : mant + '0'.repeat(below(30)) + '1'
        text = `${sign}${m2}e${exp}`
        break
      }
      case 2: {
        // A long mantissa anywhere in the range, subnormals and overflow included.
        const d = digits(18 + below(60))
        const point = 1 + below(d.length - 1)
        text = `${sign}${d.slice(0, point)}.${d.slice(point)}e${below(680) - 360}`
        break
      }
      default: {
        // Plain decimals of 15–25 digits, as programs write them.
        const d = digits(15 + below(11))
        const point = 1 + below(d.length - 1)
        text = `${sign}${d.slice(0, point)}.${d.slice(point)}`
      }
    }
    const x = JSON.parse(text)
    out.push(`${text}\t${Number.isFinite(x) ? bitsOf(x).toString(16).padStart(16, '0') : 'inf'}`)
  }
  process.stdout.write(out.join('\n') + '\n')
} else {
  process.stderr.write('usage: node numbers.mjs format | parse SEED N\n')
  process.exit(2)
}
