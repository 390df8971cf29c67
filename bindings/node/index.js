'use strict'
// bizra for Node: the native addon (napi-rs, built from src/lib.rs) plus a thin error layer.
// Native errors carry a string `code`; here they become `BizraError` (with `reject`, the spec's
// number, for rejections) or `TypeError` (arguments of the wrong type). The one other thing done
// here is unpacking the options of hot calls into positional arguments (see UNPACK).

const { platform, arch } = process

function loadNative() {
  const abi = platform === 'linux' ? (isMusl() ? '-musl' : '-gnu') : platform === 'win32' ? '-msvc' : ''
  const file = `./bizra.${platform}-${arch}${abi}.node`
  try {
    return require(file)
  } catch (e) {
    throw new Error(`bizra: no native addon for ${platform}-${arch}${abi} (${file}): ${e.message}`)
  }
}

function isMusl() {
  try {
    return !process.report.getReport().header.glibcVersionRuntime
  } catch {
    return false
  }
}

const native = loadNative()
const REJECT = native.rejectCodes()

class BizraError extends Error {
  constructor(message, code, reject) {
    super(message)
    this.name = 'BizraError'
    this.code = code
    this.reject = reject
  }
}

// Our codes are UPPER_SNAKE; napi-rs's own (argument conversion) are CamelCase statuses.
function convert(e) {
  if (!(e instanceof Error) || e instanceof BizraError || e instanceof TypeError) return e
  const code = typeof e.code === 'string' ? e.code : undefined
  if (code === 'TYPE_ERROR') return retype(new TypeError(e.message), e)
  if (code === 'GenericFailure' && e.message.startsWith('PANIC: ')) {
    return retype(new BizraError(e.message.slice(7), 'PANIC', undefined), e)
  }
  if (code && /^[A-Z][A-Z0-9_]*$/.test(code)) return retype(new BizraError(e.message, code, REJECT[code]), e)
  if (code) return retype(new TypeError(e.message), e)
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

// Options of hot calls, unpacked here into the positional arguments the addon takes: V8 reads
// them through inline caches, where the addon would pay a full N-API property lookup per name.
// Every value is still checked by the addon; only the shape of `options` is checked here.
const UNPACK = {
  Envelope: {
    create(identity, payload, options) {
      if (options === undefined || options === null) return [identity, payload]
      if (typeof options !== 'object') throw new TypeError('options must be an object')
      const { ttl, provenance, scores, policy, timestamp, id } = options
      if (scores === undefined) return [identity, payload, ttl, provenance, undefined, undefined, policy, timestamp, id]
      if (typeof scores !== 'object' || scores === null) throw new TypeError('scores must be an object { snr?, ihsan? }')
      return [identity, payload, ttl, provenance, scores.snr, scores.ihsan, policy, timestamp, id]
    },
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
      const unpack = UNPACK[C.name]?.[key]
      const value = unpack ? (...args) => f.apply(C, unpack(...args)) : (...args) => f.apply(C, args)
      Object.defineProperty(W, key, { value, writable: false, enumerable: false, configurable: false })
    } else if (d.get) {
      const g = wrap(d.get)
      Object.defineProperty(W, key, { get: () => g.call(C), enumerable: false, configurable: false })
    } else {
      Object.defineProperty(W, key, { value: d.value, writable: false, enumerable: false, configurable: false })
    }
  }
  return W
}

const out = { BizraError }
for (const [name, value] of Object.entries(native)) {
  if (name === 'rejectCodes') continue
  if (typeof value !== 'function') out[name] = value
  else if (/^[A-Z]/.test(name)) out[name] = wrapClass(value)
  else out[name] = wrap(value)
}
/** The spec's reject codes, name → number (frozen). */
out.REJECT_CODES = Object.freeze({ ...REJECT })
out.rejectCodes = () => ({ ...REJECT })

module.exports = out
