//! The C ABI (bizra-sys) at its boundary: every entry point that takes a caller's buffer or
//! string, called through its `extern "C"` function with arbitrary bytes and lengths (NULL with
//! length 0, NULL with a length, strings cut at an interior NUL), and everything it hands back
//! (handles, strings, byte buffers) used and then released with the ABI's own free functions,
//! so that AddressSanitizer and LeakSanitizer check both sides of the boundary. Nothing may
//! panic (a panic across the ABI aborts), and a call that fails hands nothing back.
//!
//! Input: a byte choosing the call, then its arguments, each a big-endian u16 length and that
//! many bytes (0xffff: a NULL pointer with length 0; 0xfffe: a NULL pointer with length 1,
//! which must be refused).
#![no_main]

use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

use bizra_sys::*;
use libfuzzer_sys::fuzz_target;

const VECTORS: &str = include_str!("../../tests/vectors/consensus-v1-vectors.json");

/// An argument: a buffer, or a NULL pointer with a length.
enum Arg {
    Bytes(Vec<u8>),
    Null(usize),
}

impl Arg {
    fn ptr(&self) -> *const u8 {
        match self {
            Arg::Bytes(b) => b.as_ptr(),
            Arg::Null(_) => null(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Arg::Bytes(b) => b.len(),
            Arg::Null(n) => *n,
        }
    }

    /// The argument as a C string: its bytes up to a NUL (added at the end), or NULL.
    fn c_string(&self) -> Option<Vec<u8>> {
        match self {
            Arg::Bytes(b) => Some([&b[..], &[0]].concat()),
            Arg::Null(_) => None,
        }
    }
}

struct Args<'a>(&'a [u8]);

impl Args<'_> {
    fn next(&mut self) -> Arg {
        let (n, rest) = match self.0 {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
            _ => return Arg::Bytes(std::mem::take(&mut self.0).to_vec()),
        };
        self.0 = rest;
        match n {
            0xffff => Arg::Null(0),
            0xfffe => Arg::Null(1),
            n => {
                let (bytes, rest) = rest.split_at(usize::from(n).min(rest.len()));
                self.0 = rest;
                Arg::Bytes(bytes.to_vec())
            }
        }
    }

    /// A C string argument kept alive by `slot`: its pointer, or NULL.
    fn c_str(&mut self, slot: &mut Option<Vec<u8>>) -> *const c_char {
        *slot = self.next().c_string();
        slot.as_ref().map_or(null(), |s| s.as_ptr().cast())
    }

    fn u64(&mut self) -> u64 {
        let Arg::Bytes(b) = self.next() else { return 0 };
        let mut a = [0u8; 8];
        let n = b.len().min(8);
        a[..n].copy_from_slice(&b[..n]);
        u64::from_be_bytes(a)
    }
}

/// A status that must be OK exactly when a handle came back.
fn handed_back<T>(status: bizra_status, out: *mut T) -> bool {
    assert_eq!(
        status == BIZRA_STATUS_OK,
        !out.is_null(),
        "status {status} and handle disagree"
    );
    !out.is_null()
}

/// A string the ABI handed back: read, then freed by the ABI.
unsafe fn take_string(status: bizra_status, s: *mut c_char) {
    if handed_back(status, s) {
        assert!(
            CStr::from_ptr(s).to_str().is_ok(),
            "a string from the ABI is not UTF-8"
        );
        bizra_string_free(s);
    }
}

extern "C" {
    // Exported by bizra-sys (`#[no_mangle]`) but not a public Rust item of it.
    fn bizra_last_error(buf: *mut c_char, len: usize, needed: *mut usize) -> bizra_status;
}

/// This thread's last error message, read into a buffer too small for most of them.
unsafe fn last_error() {
    let mut needed = 0usize;
    let mut buf = [0 as c_char; 64];
    let _ = bizra_last_error(buf.as_mut_ptr(), buf.len(), &mut needed);
}

/// The vectors' federation document, through the ABI (the caller frees it).
unsafe fn document() -> *mut bizra_federation_document {
    let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let json = v["documents"]["equal"]["json"].as_str().unwrap();
    let mut doc = null_mut();
    let status = bizra_federation_document_from_json(json.as_ptr().cast(), json.len(), &mut doc);
    assert_eq!(status, BIZRA_STATUS_OK);
    doc
}

/// Everything a parsed envelope offers, then verified, gated and freed.
unsafe fn use_envelope(env: *mut bizra_envelope, now: i64) {
    let mut s = null_mut();
    take_string(bizra_envelope_to_json(env, &mut s), s);
    let mut s = null_mut();
    take_string(bizra_envelope_payload_json(env, &mut s), s);
    let mut s = null_mut();
    take_string(bizra_envelope_header_json(env, &mut s), s);
    let mut b = bizra_bytes {
        data: null_mut(),
        len: 0,
    };
    if bizra_envelope_signature(env, &mut b) == BIZRA_STATUS_OK {
        bizra_bytes_free(&mut b);
    }
    let mut copy = null_mut();
    if handed_back(bizra_envelope_clone(env, &mut copy), copy) {
        bizra_envelope_free(copy);
    }
    let mut reject = 0u32;
    let opts = bizra_verify_options {
        struct_size: std::mem::size_of::<bizra_verify_options>() as u32,
        has_now: true,
        now_unix_ms: now,
        policy_hex: null(),
        replay: null(),
    };
    let _ = bizra_envelope_verify(env, &opts, &mut reject);
    let mut chain = null_mut();
    assert_eq!(bizra_gate_chain_new_default(&mut chain), BIZRA_STATUS_OK);
    for admit in [false, true, true] {
        let mut report = null_mut();
        let status = if admit {
            bizra_gate_chain_admit(chain, env, &now, &mut report, &mut reject)
        } else {
            bizra_gate_chain_check(chain, env, &now, &mut report, &mut reject)
        };
        // A refusal hands back its report too.
        let judged = status == BIZRA_STATUS_OK || status == BIZRA_STATUS_REJECTED;
        assert_eq!(
            judged,
            !report.is_null(),
            "status {status} and report disagree"
        );
        if judged {
            let mut found = false;
            let mut result = std::mem::zeroed::<bizra_gate_result>();
            let _ = bizra_gate_report_first_failure(report, &mut found, &mut result);
            bizra_gate_report_free(report);
        }
    }
    bizra_gate_chain_free(chain);
    bizra_envelope_free(env);
}

fuzz_target!(|data: &[u8]| {
    let Some((&call, rest)) = data.split_first() else {
        return;
    };
    let mut args = Args(rest);
    // Owners of the C strings passed below.
    let (mut s1, mut s2) = (None, None);
    unsafe {
        match call % 12 {
            0 => {
                let text = args.next();
                let mut env = null_mut();
                let mut reject = u32::MAX;
                let status =
                    bizra_envelope_parse(text.ptr().cast(), text.len(), &mut env, &mut reject);
                if handed_back(status, env) {
                    assert_eq!(reject, 0, "a parsed envelope with a reject code");
                    let mut ms = 0i64;
                    let _ = bizra_envelope_timestamp_unix_ms(env, &mut ms);
                    use_envelope(env, ms);
                }
            }
            1 => {
                let text = args.next();
                let now = args.u64() as i64;
                let policy = args.c_str(&mut s1);
                let mut cache = null_mut();
                assert_eq!(bizra_replay_cache_new(16, &mut cache), BIZRA_STATUS_OK);
                let opts = bizra_verify_options {
                    struct_size: std::mem::size_of::<bizra_verify_options>() as u32,
                    has_now: now != 0,
                    now_unix_ms: now,
                    policy_hex: policy,
                    replay: cache,
                };
                let mut env = null_mut();
                let mut reject = 0u32;
                let status = bizra_envelope_open(
                    text.ptr().cast(),
                    text.len(),
                    &opts,
                    &mut env,
                    &mut reject,
                );
                if handed_back(status, env) {
                    use_envelope(env, now);
                }
                bizra_replay_cache_free(cache);
            }
            2 => {
                let pem = args.c_str(&mut s1);
                let passphrase = args.c_str(&mut s2);
                let mut id = null_mut();
                if handed_back(bizra_identity_from_pem(pem, passphrase, &mut id), id) {
                    let mut s = null_mut();
                    take_string(bizra_identity_public_key_hex(id, &mut s), s);
                    let mut s = null_mut();
                    take_string(bizra_identity_to_pem(id, null(), &mut s), s);
                    let mut sig = bizra_bytes {
                        data: null_mut(),
                        len: 0,
                    };
                    let message = args.next();
                    let status =
                        bizra_identity_sign_message(id, message.ptr(), message.len(), &mut sig);
                    if status == BIZRA_STATUS_OK {
                        let mut key = bizra_bytes {
                            data: null_mut(),
                            len: 0,
                        };
                        assert_eq!(bizra_identity_public_key(id, &mut key), BIZRA_STATUS_OK);
                        let ok = bizra_verify_message(
                            key.data,
                            key.len,
                            message.ptr(),
                            message.len(),
                            sig.data,
                            sig.len,
                        );
                        assert_eq!(
                            ok, BIZRA_STATUS_OK,
                            "a signature made through the ABI does not verify"
                        );
                        bizra_bytes_free(&mut key);
                        bizra_bytes_free(&mut sig);
                    }
                    bizra_identity_free(id);
                }
            }
            3 => {
                let seed = args.next();
                let mut id = null_mut();
                if handed_back(
                    bizra_identity_from_seed(seed.ptr(), seed.len(), &mut id),
                    id,
                ) {
                    let mut s = null_mut();
                    take_string(bizra_identity_display_id(id, &mut s), s);
                    bizra_identity_free(id);
                }
            }
            4 => {
                let (key, message, signature) = (args.next(), args.next(), args.next());
                let _ = bizra_verify_message(
                    key.ptr(),
                    key.len(),
                    message.ptr(),
                    message.len(),
                    signature.ptr(),
                    signature.len(),
                );
            }
            5 => {
                let json = args.c_str(&mut s1);
                let mut c = null_mut();
                if handed_back(bizra_constitution_from_json(json, &mut c), c) {
                    let mut s = null_mut();
                    take_string(bizra_constitution_hash_hex(c, &mut s), s);
                    let mut chain = null_mut();
                    if handed_back(bizra_gate_chain_from_constitution(c, &mut chain), chain) {
                        bizra_gate_chain_free(chain);
                    }
                    bizra_constitution_free(c);
                }
            }
            6 => {
                let json = args.next();
                let mut doc = null_mut();
                let status =
                    bizra_federation_document_from_json(json.ptr().cast(), json.len(), &mut doc);
                if handed_back(status, doc) {
                    let mut s = null_mut();
                    take_string(bizra_federation_document_to_json(doc, &mut s), s);
                    let mut key = null_mut();
                    let mut power = 0u64;
                    take_string(
                        bizra_federation_document_validator(doc, 0, &mut key, &mut power),
                        key,
                    );
                    bizra_federation_document_free(doc);
                }
            }
            7 => {
                let json = args.next();
                let batch = args.next();
                let mut cert = null_mut();
                let mut code = 0u32;
                let status = bizra_certificate_from_json(
                    json.ptr().cast(),
                    json.len(),
                    &mut cert,
                    &mut code,
                );
                if handed_back(status, cert) {
                    let doc = document();
                    let _ = bizra_certificate_verify(cert, doc, &mut code);
                    let _ = bizra_certificate_verify_batch(
                        cert,
                        batch.ptr().cast(),
                        batch.len(),
                        doc,
                        &mut code,
                    );
                    let mut s = null_mut();
                    take_string(bizra_certificate_to_json(cert, &mut s), s);
                    bizra_federation_document_free(doc);
                    bizra_certificate_free(cert);
                }
            }
            8 => {
                let mut validator = [0 as c_char; BIZRA_KEY_HEX_SIZE];
                if let Arg::Bytes(v) = args.next() {
                    for (d, s) in validator.iter_mut().zip(v) {
                        *d = s as c_char;
                    }
                }
                let (height, round_step) = (args.u64(), args.u64());
                let (first, second) = (args.next(), args.next());
                let evidence = bizra_evidence {
                    validator,
                    height,
                    round: (round_step >> 32) as u32,
                    step: round_step as u32,
                    first: bizra_bytes {
                        data: first.ptr().cast_mut(),
                        len: first.len(),
                    },
                    second: bizra_bytes {
                        data: second.ptr().cast_mut(),
                        len: second.len(),
                    },
                };
                let doc = document();
                let mut code = 0u32;
                let _ = bizra_evidence_verify(doc, &evidence, &mut code);
                bizra_federation_document_free(doc);
            }
            9 => {
                let s = args.c_str(&mut s1);
                let mut ms = 0i64;
                if bizra_timestamp_parse(s, &mut ms) == BIZRA_STATUS_OK {
                    let mut text = null_mut();
                    take_string(bizra_timestamp_format(ms, &mut text), text);
                }
            }
            10 => {
                let prompt = args.c_str(&mut s1);
                let n = args.u64();
                let mut decision = std::mem::zeroed::<bizra_tier_decision>();
                let status = bizra_select_tier(prompt, n as u32, (n >> 32) as u32, &mut decision);
                take_string(status, decision.reason);
                let mut complexity = 0u32;
                let _ = bizra_task_complexity_estimate(prompt, n as u32, &mut complexity);
            }
            _ => {
                let schema = args.c_str(&mut s1);
                let mut chain = null_mut();
                assert_eq!(bizra_gate_chain_new_default(&mut chain), BIZRA_STATUS_OK);
                let _ = bizra_gate_chain_set_payload_schema(chain, schema);
                bizra_gate_chain_free(chain);
            }
        }
        last_error();
    }
});
