//! Property tests: JCS agrees with an independent implementation on random JSON; envelopes
//! round-trip; any change to a signed member or the payload is refused with the spec's code;
//! batch verification gives exactly the strict single verdicts, small-order keys included.

mod common;
use common::*;

use bizra::hash::to_hex;
use bizra::{canonical, verify_batch, Envelope, RejectCode, VerifyOptions};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn any_string() -> impl Strategy<Value = String> {
    // Escapes, controls, BMP above the surrogates, astral plane, plain ASCII.
    let ch = prop_oneof![
        3 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('\u{0}', '\u{1f}'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\u{7f}'),
        1 => proptest::char::range('\u{80}', '\u{7ff}'),
        1 => proptest::char::range('\u{e000}', '\u{ffff}'),
        1 => proptest::char::range('\u{10000}', '\u{10ffff}'),
    ];
    proptest::collection::vec(ch, 0..8).prop_map(|v| v.into_iter().collect())
}

fn any_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Number::from),
        any::<f64>()
            // Integral doubles in (2^53, 1e21) have no I-JSON canonical form (the writer refuses
            // them; a unit test covers that).
            .prop_filter("finite, I-JSON representable", |f| {
                f.is_finite()
                    && !(f.fract() == 0.0 && f.abs() > 9_007_199_254_740_991.0 && f.abs() < 1e21)
            })
            .prop_map(|f| Number::from_f64(f).unwrap()),
        (-1000i32..1000, -30i32..30).prop_map(|(m, e)| {
            let f = f64::from(m) * 10f64.powi(e);
            let f = if f.fract() == 0.0 && f.abs() > 9_007_199_254_740_991.0 && f.abs() < 1e21 {
                f * 1e6
            } else {
                f
            };
            Number::from_f64(f).unwrap()
        }),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_number().prop_map(Value::Number),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((any_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn jcs_agrees_with_the_reference(v in any_json()) {
        let ours = canonical::to_string(&v).unwrap();
        let reference = serde_json_canonicalizer::to_string(&v).unwrap();
        prop_assert_eq!(&ours, &reference);
        // Parsing any serialization (here serde_json's) and canonicalizing gives the same bytes.
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(canonical::canonicalize(&pretty).unwrap(), reference.clone());
        // Canonical form is a fixed point.
        prop_assert_eq!(canonical::canonicalize(&ours).unwrap(), ours);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn envelopes_round_trip(payload in any_json(), ttl in 1i64..=3600, snr in proptest::option::of(0.0f64..=1.0)) {
        let mut b = Envelope::builder(payload).timestamp(t0()).ttl(ttl);
        if let Some(s) = snr { b = b.snr(s); }
        let env = b.sign(&alice()).unwrap();
        // The payload reads as a receiver of its canonical text reads it, on both sides.
        let read_back = canonical::parse(env.payload_json()).unwrap();
        prop_assert_eq!(env.payload(), &read_back);
        let back = Envelope::parse(&env.to_json()).unwrap();
        prop_assert_eq!(back.payload(), &read_back);
        prop_assert_eq!(&back, &env);
        prop_assert_eq!(back.to_json(), env.to_json());
        back.verify(&VerifyOptions::default().at(t0())).unwrap();
    }

    #[test]
    fn any_change_to_a_signed_member_or_the_payload_is_refused(
        payload in any_json(),
        replacement in any_json(),
        member in 0usize..7,
    ) {
        let env = Envelope::builder(payload.clone()).timestamp(t0()).ttl(600).snr(0.9).ihsan(0.96)
            .provenance(["pci_000102030405060708090a0b0c0d0e0f"]).sign(&alice()).unwrap();
        let mut v: Value = serde_json::from_str(&env.to_json()).unwrap();
        let (key, new, want): (&str, Value, RejectCode) = match member {
            0 => ("payload", replacement.clone(), RejectCode::HashMismatch),
            1 => ("ttl", Value::from(599), RejectCode::Signature),
            2 => ("scores", serde_json::json!({"snr": 0.91, "ihsan": 0.96}), RejectCode::Signature),
            3 => ("provenance", serde_json::json!([]), RejectCode::Signature),
            4 => ("policy", Value::from("00".repeat(32)), RejectCode::Signature),
            5 => ("id", Value::from("pci_ffffffffffffffffffffffffffffffff"), RejectCode::Signature),
            _ => ("timestamp", Value::from("2026-01-30T00:00:00.001Z"), RejectCode::Signature),
        };
        let unchanged = canonical::to_vec(&v[key]).unwrap() == canonical::to_vec(&new).unwrap();
        prop_assume!(!unchanged);
        v[key] = new;
        let tampered = Envelope::parse(&v.to_string()).unwrap();
        let got = tampered.verify(&VerifyOptions::default().at(t0())).unwrap_err().reject_code();
        prop_assert_eq!(got, Some(want));
    }
}

/// The eight small-order points of edwards25519 (and a non-canonical encoding of one).
const SMALL_ORDER: [&str; 9] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

/// The group order ℓ, little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// An envelope whose key, sender and signature are replaced.
fn with_key_and_sig(env: &Envelope, pk_hex: &str, sig: &[u8; 64]) -> Envelope {
    let mut v: Value = serde_json::from_str(&env.to_json()).unwrap();
    v["public_key"] = Value::from(pk_hex);
    v["sender"] = Value::from(&pk_hex[..32]);
    v["signature"] = Value::from(to_hex(sig));
    Envelope::parse(&v.to_string()).unwrap()
}

/// s + ℓ: the same scalar, non-canonically encoded (fits in 256 bits for s < 2^253).
fn add_ell(sig: &[u8; 64]) -> [u8; 64] {
    let mut out = *sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let t = u16::from(sig[32 + i]) + u16::from(ELL[i]) + carry;
        out[32 + i] = t as u8;
        carry = t >> 8;
    }
    out
}

fn hostile_envelopes() -> Vec<Envelope> {
    let a = alice();
    let base = good(&a, serde_json::json!({"x": 1}));
    let mut out = vec![base.clone()];
    for pk in SMALL_ORDER {
        // R = identity, s = 0: satisfies the cofactored and the plain equation for a
        // small-order key; strict verification must still refuse it.
        let mut sig = [0u8; 64];
        sig[0] = 1;
        out.push(with_key_and_sig(&base, pk, &sig));
        let mut sig2 = [0u8; 64];
        sig2[..32].copy_from_slice(&bizra::hash::from_hex::<32>(pk).unwrap());
        out.push(with_key_and_sig(&base, pk, &sig2));
    }
    out.push(with_key_and_sig(
        &base,
        &a.public_key_hex(),
        &add_ell(base.signature()),
    ));
    out
}

#[test]
fn small_order_keys_and_non_canonical_signatures_are_refused() {
    let opts = VerifyOptions::default().at(t0());
    let envs = hostile_envelopes();
    assert!(envs[0].verify(&opts).is_ok());
    for e in &envs[1..] {
        assert_eq!(
            e.verify(&opts).unwrap_err().reject_code(),
            Some(RejectCode::Signature),
            "{}",
            e.to_json()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batch_equals_strict_single(picks in proptest::collection::vec((0usize..64, any::<bool>(), 0i64..5000), 0..40)) {
        let hostile = hostile_envelopes();
        let a = alice();
        let envs: Vec<Envelope> = picks.iter().map(|&(k, fresh, age)| {
            if fresh {
                Envelope::builder(serde_json::json!({"k": k})).timestamp(at(-age)).snr(0.9).sign(&a).unwrap()
            } else {
                hostile[k % hostile.len()].clone()
            }
        }).collect();
        let opts = VerifyOptions::default().at(t0());
        let single: Vec<_> = envs.iter().map(|e| e.verify(&opts).err().and_then(|e| e.reject_code())).collect();
        let batch: Vec<_> = verify_batch(&envs, &opts).into_iter().map(|r| r.err().and_then(|e| e.reject_code())).collect();
        prop_assert_eq!(batch, single);
    }
}
