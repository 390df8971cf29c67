'use strict'
// bizra for Node: the native addon (napi-rs, built from src/*.rs) plus a thin JavaScript layer.
// Native errors carry a string `code`; here they become `BizraError` (with `kind`, `reject`,
// `detail`, `retryable`) or `TypeError` (arguments of the wrong type). The other things done here
// are encoding JSON arguments for the addon (Tape), unpacking the options of the hot call
// (STATICS), and what napi-rs classes cannot declare: the `GateReport` class of reports and the
// symbol-named methods (`Symbol.asyncIterator`, `Symbol.dispose`, `Symbol.asyncDispose`).

const { platform, arch } = process

// The addon, as napi-rs packages lay it out: a `.node` file beside this one (a build from source),
// else the platform package that npm installed through optionalDependencies (`bizra-linux-x64-gnu`
// for a prebuilt install), which must be of this package's version.
function loadNative() {
  const abi = platform === 'linux' ? (isMusl() ? '-musl' : '-gnu') : platform === 'win32' ? '-msvc' : ''
  const target = `${platform}-${arch}${abi}`
  const file = `./bizra.${target}.node`
  const pkg = `bizra-${target}`
  const errors = []
  try {
    return require(file)
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e
    errors.push(`${file}: ${e.message.split('\n')[0]}`)
  }
  try {
    const { version } = require(`${pkg}/package.json`)
    const expected = require('./package.json').version
    if (version !== expected) {
      throw new Error(`bizra ${expected} needs ${pkg} ${expected}, and ${version} is installed`)
    }
    return require(pkg)
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e
    errors.push(`${pkg}: ${e.message.split('\n')[0]}`)
  }
  throw new Error(
    `bizra: no native addon for ${target} (neither ${errors.join(', nor ')}); npm installs ${pkg} ` +
      'where one is published; elsewhere build the addon from source (see the README)',
  )
}

function isMusl() {
  try {
    return !process.report.getReport().header.glibcVersionRuntime
  } catch {
    return false
  }
}

// The addon's finalizers run during garbage collection (see `node_api_module_get_api_version_v1`
// in src/lib.rs). Node.js allows what they do there from 20.19, 22.13 and 24 on; older releases
// would abort the process at the first collection, so they are refused here, before the addon
// loads, with an error that says why.
const [major, minor] = process.versions.node.split('.').map(Number)
if (!(major >= 24 || (major === 22 && minor >= 13) || (major === 20 && minor >= 19))) {
  throw new Error(`bizra needs Node.js ^20.19.0, ^22.13.0 or >= 24; this is ${process.version}`)
}

const native = loadNative()
const REJECT = native.rejectCodes()
const REJECTS = new Map(native.rejectTable().map((r) => [r.name, r]))
const RETRYABLE = new Set([...REJECTS.values()].filter((r) => r.retryable).map((r) => r.name))
const KINDS = Object.freeze(native.errorKinds().map((k) => Object.freeze(k)))
// The refusal codes of certificates and of equivocation evidence (CONSENSUS-v1), name → number,
// in number order.
const byNumber = (codes) => Object.freeze(Object.fromEntries(Object.entries(codes).sort((a, b) => a[1] - b[1])))
const CERTIFICATE = byNumber(native.certificateCodes())
const EVIDENCE = byNumber(native.evidenceCodes())

/**
 * Every error bizra raises (other than `TypeError` for arguments of the wrong type), with the same
 * information as in every other binding: `kind` (from the core's table of error kinds), `code`
 * (the reject name for refusals, a refused certificate's or evidence's refusal name, else the
 * kind), `reject`
 * (the spec's number for refusals), `certificateCode` (a refused certificate's number),
 * `evidenceCode` (refused equivocation evidence's number), `endpoint` and `status` (a remote
 * pool's API root and the HTTP status it answered with, kinds REMOTE_UNAVAILABLE and
 * REMOTE_REFUSED), `detail` (what exactly failed) and `retryable`.
 */
class BizraError extends Error {
  constructor(message, code, reject, detail) {
    super(message)
    this.name = 'BizraError'
    this.code = code
    this.reject = reject
    // A refusal (a reject number) is of kind REJECTED, whose code is the reject's name; every other
    // error's code is its kind (see src/errors.rs).
    this.kind = reject === undefined ? code : 'REJECTED'
    this.detail = detail ?? message
    this.retryable = reject !== undefined && RETRYABLE.has(code)
    this.certificateCode = undefined
    this.evidenceCode = undefined
    this.endpoint = undefined
    this.status = undefined
  }
}

// The kinds of a remote pool's errors, whose reason starts with `endpoint␟status␟` (src/errors.rs).
const REMOTE = new Set(['REMOTE_UNAVAILABLE', 'REMOTE_REFUSED'])

/** A remote pool's error: its endpoint, and the HTTP status it answered with (if it answered). */
function remoteError(kind, endpoint, status, message) {
  const e = new BizraError(message, kind, undefined)
  e.endpoint = endpoint
  e.status = /^[0-9]+$/.test(status) ? Number(status) : undefined
  return e
}

// The refusals whose `code` is a refusal's name and whose number has a field of its own: the
// kind → the codes (CONSENSUS-v1, name → number) and the field.
const REFUSALS = {
  CERTIFICATE_REFUSED: [CERTIFICATE, 'certificateCode'],
  EVIDENCE_REFUSED: [EVIDENCE, 'evidenceCode'],
}

/** A refused certificate or refused evidence (`kind` the kind, `code` its refusal's name). */
function refusalError(kind, message, name, detail) {
  const [codes, field] = REFUSALS[kind]
  const e = new BizraError(message, name, undefined, detail)
  e.kind = kind
  e[field] = codes[name]
  return e
}

// The addon's codes are kinds, UPPER_SNAKE (or TYPE_ERROR); napi-rs's own (argument conversion)
// are CamelCase statuses. A refusal's reason is `REJECT_NAME␟detail␟message`, a refused
// certificate's or refused evidence's `NAME␟number␟detail␟message`, a remote pool's error's
// `endpoint␟status␟message` (src/errors.rs).
function convert(e) {
  if (!(e instanceof Error) || e instanceof BizraError || e instanceof TypeError) return e
  const kind = typeof e.code === 'string' ? e.code : undefined
  if (kind === 'TYPE_ERROR') return retype(new TypeError(e.message), e)
  if (kind === 'REJECTED') {
    const [name, detail, ...message] = e.message.split('\u001f')
    if (REJECTS.has(name) && message.length > 0) {
      return retype(new BizraError(message.join('\u001f'), name, REJECT[name], detail), e)
    }
  }
  if (Object.hasOwn(REFUSALS, kind)) {
    const [name, number, detail, ...message] = e.message.split('\u001f')
    if (REFUSALS[kind][0][name] === Number(number) && message.length > 0) {
      return retype(refusalError(kind, message.join('\u001f'), name, detail), e)
    }
  }
  if (REMOTE.has(kind)) {
    const [endpoint, status, ...message] = e.message.split('\u001f')
    if (message.length > 0) return retype(remoteError(kind, endpoint, status, message.join('\u001f')), e)
  }
  if (kind && /^[A-Z][A-Z0-9_]*$/.test(kind)) return retype(new BizraError(e.message, kind, undefined), e)
  if (kind) return retype(new TypeError(e.message), e)
  return e
}

function retype(err, from) {
  if (from.stack) err.stack = `${err.name}: ${err.message}\n${from.stack.split('\n').slice(1).join('\n')}`
  return err
}

function wrap(f) {
  return function (...args) {
    let r
    try {
      r = f.apply(this, args)
    } catch (e) {
      throw convert(e)
    }
    if (r instanceof Promise) {
      return r.catch((e) => {
        throw convert(e)
      })
    }
    return r
  }
}

function wrapMembers(target) {
  for (const key of Object.getOwnPropertyNames(target)) {
    if (key === 'constructor' || key === 'prototype' || key === 'length' || key === 'name') continue
    const d = Object.getOwnPropertyDescriptor(target, key)
    if (!d || !d.configurable) continue
    if (typeof d.value === 'function') d.value = wrap(d.value)
    if (d.get) d.get = wrap(d.get)
    if (d.set) d.set = wrap(d.set)
    Object.defineProperty(target, key, d)
  }
}

/**
 * A gate chain's verdict: `passed`, `code` and `reject` of the first refusal, and every gate's
 * result in the order the gates ran (the addon's plain object, given this prototype).
 */
class GateReport {
  /** The first refusal, or `undefined` when admitted. */
  get firstFailure() {
    return this.results.find((r) => !r.passed)
  }

  /** Throws the first refusal as a `BizraError` (as `GateChain.admit` would); nothing when admitted. */
  throwIfRefused() {
    if (this.passed) return
    const f = this.firstFailure
    const info = REJECTS.get(f?.code) ?? REJECTS.get('INTERNAL')
    const detail = f ? `gate ${f.name}: ${f.detail ?? ''}` : 'chain refused without a failing gate'
    const message = `PCI-${String(info.code).padStart(2, '0')}: ${info.description} (${detail})`
    throw new BizraError(message, info.name, info.code, detail)
  }
}

function asReport(r) {
  return Object.setPrototypeOf(r, GateReport.prototype)
}

// JSON values cross into the addon encoded (src/json.rs has the format, the rules and every
// message; this side only classifies): the value's strings joined into one `text`, its structure
// on a Float64Array tape. V8 walks the value here through its inline caches, where the addon
// would pay an N-API call per key, per value and per string.
const { MAX_DEPTH, NULL, FALSE, TRUE, NUMBER, STRING, ARRAY, OBJECT, UNDEFINED, BIGINT, FUNCTION, SYMBOL, CLASS, TOO_DEEP } =
  native.jsonTape()

class Tape {
  constructor() {
    this.items = new Float64Array(256)
    this.n = 1 // items[0]: the text's length
    this.text = ''
  }

  /** Encodes `value`; returns the text, leaves the structure in `items`. */
  write(value) {
    this.n = 1
    this.text = ''
    this.put(value, 0)
    const text = this.text
    this.items[0] = text.length
    return text
  }

  item(x) {
    if (this.n === this.items.length) {
      const grown = new Float64Array(this.items.length * 2)
      grown.set(this.items)
      this.items = grown
    }
    this.items[this.n++] = x
  }

  piece(tag, s) {
    this.item(tag)
    this.item(s.length)
    this.text += s
  }

  // Returns false at the first value that is not JSON: its tag ends the tape.
  put(v, depth) {
    switch (typeof v) {
      case 'string':
        this.piece(STRING, v)
        return true
      case 'number':
        this.item(NUMBER)
        this.item(v)
        return true
      case 'boolean':
        this.item(v ? TRUE : FALSE)
        return true
      case 'object': {
        if (v === null) {
          this.item(NULL)
          return true
        }
        if (depth >= MAX_DEPTH) {
          this.item(TOO_DEEP)
          return false
        }
        if (Array.isArray(v)) {
          const len = v.length
          this.item(ARRAY)
          this.item(len)
          for (let i = 0; i < len; i++) if (!this.put(v[i], depth + 1)) return false
          return true
        }
        const proto = Object.getPrototypeOf(v)
        if (proto !== Object.prototype && proto !== null) {
          this.piece(CLASS, className(v))
          return false
        }
        const keys = Object.keys(v)
        this.item(OBJECT)
        this.item(keys.length)
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]
          this.item(k.length)
          this.text += k
          if (!this.put(v[k], depth + 1)) return false
        }
        return true
      }
      case 'undefined':
        this.item(UNDEFINED)
        return false
      case 'bigint':
        this.item(BIGINT)
        return false
      case 'function':
        this.item(FUNCTION)
        return false
      default:
        this.item(SYMBOL)
        return false
    }
  }
}

function className(v) {
  try {
    const name = v.constructor?.name
    return typeof name === 'string' ? name : ''
  } catch {
    return ''
  }
}

// One tape is reused by the hot calls; a call made while it is in use (from a getter inside the
// value being encoded) gets its own, and so do the addon's own requests (see `json::from_js`).
let spareTape = new Tape()
const SPARE_LIMIT = 1 << 16

native.__setJsonEncoder((value) => {
  const tape = new Tape()
  const text = tape.write(value)
  return [text, tape.items]
})

// Statics written here over the addon's plain N-API callbacks: the payload goes over encoded and
// `options` unpacked into positional arguments (V8 reads them through inline caches, where the
// addon would pay a property lookup per name). Every value is still checked by the addon; the
// shape of `options` is checked here, unknown keys refused as the addon refuses them elsewhere
// (src/options.rs words the message).
const CREATE_OPTIONS = ['ttl', 'provenance', 'scores', 'policy', 'timestamp', 'id']
const SCORES = ['snr', 'ihsan']

function refuseUnknown(object, known, prefix) {
  for (const key in object) {
    if (!known.includes(key)) throw new TypeError(native.__unknownOption(key, known, prefix))
  }
}

const STATICS = {
  Envelope: {
    create: ((addon) =>
      function create(identity, payload, options) {
        let ttl, provenance, scores, policy, timestamp, id
        if (options !== undefined && options !== null) {
          if (typeof options !== 'object') throw new TypeError('options must be an object')
          refuseUnknown(options, CREATE_OPTIONS, '')
          ;({ ttl, provenance, scores, policy, timestamp, id } = options)
          if (scores !== undefined) {
            if (typeof scores !== 'object' || scores === null) {
              throw new TypeError('scores must be an object { snr?, ihsan? }')
            }
            refuseUnknown(scores, SCORES, 'scores.')
          }
        }
        const tape = spareTape ?? new Tape()
        spareTape = null
        try {
          const text = tape.write(payload)
          return addon(identity, text, tape.items, ttl, provenance, scores?.snr, scores?.ihsan, policy, timestamp, id)
        } catch (e) {
          throw convert(e)
        } finally {
          tape.text = ''
          if (tape.items.length <= SPARE_LIMIT) spareTape = tape
        }
      })(native.__envelopeCreate()),
  },
}

// Prototype members of napi-rs classes are configurable (wrapped in place, so instances made by
// the addon get them too); static members are not, so each class gets a thin constructor shell
// that shares the native prototype (`instanceof` holds) and carries wrapped statics.
function wrapClass(C) {
  wrapMembers(C.prototype)
  const W = function (...args) {
    if (!new.target) throw new TypeError(`Class constructor ${C.name} cannot be invoked without 'new'`)
    try {
      return Reflect.construct(C, args)
    } catch (e) {
      throw convert(e)
    }
  }
  Object.defineProperty(W, 'name', { value: C.name })
  W.prototype = C.prototype
  for (const key of Object.getOwnPropertyNames(C)) {
    if (key === 'prototype' || key === 'length' || key === 'name') continue
    const d = Object.getOwnPropertyDescriptor(C, key)
    if (typeof d.value === 'function') {
      const f = wrap(d.value)
      const value = (...args) => f.apply(C, args)
      Object.defineProperty(W, key, { value, writable: false, enumerable: false, configurable: false })
    } else if (d.get) {
      const g = wrap(d.get)
      Object.defineProperty(W, key, { get: () => g.call(C), enumerable: false, configurable: false })
    } else {
      Object.defineProperty(W, key, { value: d.value, writable: false, enumerable: false, configurable: false })
    }
  }
  for (const [key, value] of Object.entries(STATICS[C.name] ?? {})) {
    Object.defineProperty(W, key, { value, writable: false, enumerable: false, configurable: false })
  }
  return W
}

const out = { BizraError, GateReport }
const INTERNALS = [
  'rejectCodes', 'rejectTable', 'errorKinds', 'certificateCodes', 'evidenceCodes', 'jsonTape', '__setJsonEncoder',
  '__envelopeCreate', '__unknownOption',
]
for (const [name, value] of Object.entries(native)) {
  if (INTERNALS.includes(name)) continue
  if (typeof value !== 'function') out[name] = value
  else if (/^[A-Z]/.test(name)) out[name] = wrapClass(value)
  else out[name] = wrap(value)
}
// Reports come back from the addon as plain objects: give them their methods.
{
  const nativeCheck = out.GateChain.prototype.check
  Object.defineProperty(out.GateChain.prototype, 'check', {
    value: function check(...args) {
      return asReport(nativeCheck.apply(this, args))
    },
    writable: true,
    configurable: true,
  })
}
// What napi-rs classes cannot declare: symbol-named methods. A stream is its own async iterator
// (as a generator is), and `await using` stops it; `using` disposes a model and closes a store; `using` and
// `await using` close an event stream (membership or consensus), and leave with a node (`await using` waits for the
// goodbye).
{
  const { Model, TokenStream, Node, NodeEvents, ConsensusEvents } = out
  const method = (value) => ({ value, writable: true, configurable: true })
  Object.defineProperties(TokenStream.prototype, {
    [Symbol.asyncIterator]: method(function () {
      return this
    }),
    [Symbol.asyncDispose]: method(async function () {
      await this.return()
    }),
  })
  Object.defineProperties(Model.prototype, {
    [Symbol.dispose]: method(function () {
      this.dispose()
    }),
    [Symbol.asyncDispose]: method(async function () {
      this.dispose()
    }),
  })
  Object.defineProperties(out.Store.prototype, {
    [Symbol.dispose]: method(function () {
      this.close()
    }),
  })
  for (const Stream of [NodeEvents, ConsensusEvents]) {
    Object.defineProperties(Stream.prototype, {
      [Symbol.asyncIterator]: method(function () {
        return this
      }),
      [Symbol.dispose]: method(function () {
        this.close()
      }),
      [Symbol.asyncDispose]: method(async function () {
        this.close()
      }),
    })
  }
  Object.defineProperties(Node.prototype, {
    [Symbol.dispose]: method(function () {
      this.dispose()
    }),
    [Symbol.asyncDispose]: method(async function () {
      await this.leave()
    }),
  })
}
/** The spec's reject codes, name → number (frozen). */
out.REJECT_CODES = Object.freeze({ ...REJECT })
out.rejectCodes = () => ({ ...REJECT })
/** Every kind of error (`error.kind`), from the core's table: `{ number, name }` (frozen). */
out.ERROR_KINDS = KINDS
out.errorKinds = () => KINDS.map((k) => ({ ...k }))
/** A refused certificate's codes (`BizraError.certificateCode`), name → number (frozen). */
out.CERTIFICATE_CODES = CERTIFICATE
/** Refused equivocation evidence's codes (`BizraError.evidenceCode`), name → number (frozen). */
out.EVIDENCE_CODES = EVIDENCE

module.exports = out
