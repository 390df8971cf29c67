//! Core benchmarks, each beside its baseline from the same run.
//!
//! After criterion has measured everything, a table prints each figure against its baseline
//! (raw ed25519-dalek sign and verify_strict, raw BLAKE3) with the project's targets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bizra::gates::score_gate;
use bizra::{
    canonical, select_tier, verify_batch, BuiltinKind, Constitution, Envelope, GateChain, Identity,
    RejectCode, Timestamp, VerifyOptions,
};
use criterion::{black_box, criterion_group, BatchSize, Criterion, Throughput};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

/// A JSON payload whose canonical form is about `bytes` long.
fn payload(bytes: usize) -> Value {
    let words: Vec<String> = (0..bytes / 12).map(|i| format!("w{i:05}")).collect();
    json!({"type": "bizra.inference", "output": words.join(" "), "tokens": {"prompt": 12, "completion": 300}})
}

/// A payload of 100 doubles, as a measurement or an embedding excerpt carries them: 15–17
/// significant digits each, so that writing numbers dominates its canonicalization.
fn float_payload() -> Value {
    let values: Vec<f64> = (1..=100)
        .map(|i| (f64::from(i) * 0.7310585786300049).sin() * 10f64.powi(i % 9 - 3))
        .collect();
    json!({"type": "bizra.measurement", "values": values})
}

fn now() -> Timestamp {
    Timestamp::now()
}

/// A chain of every built-in gate except replay, so the same envelope can be checked repeatedly.
fn stateless_chain() -> GateChain {
    let mut chain = GateChain::empty(Arc::new(Constitution::default()));
    for k in BuiltinKind::ALL {
        if k != BuiltinKind::Replay {
            chain.add_builtin(k);
        }
    }
    chain
}

fn identity(c: &mut Criterion) {
    let id = Identity::from_seed(&[9; 32]).unwrap();
    let msg = canonical::to_vec(&payload(1024)).unwrap();
    let sig = id.sign_message(&msg);
    let raw = SigningKey::from_bytes(&[9; 32]);
    let raw_sig = raw.sign(&msg);
    let vk = raw.verifying_key();

    let mut g = c.benchmark_group("identity");
    g.bench_function("generate", |b| b.iter(Identity::generate));
    g.bench_function("sign_1k", |b| b.iter(|| id.sign_message(black_box(&msg))));
    g.bench_function("verify_1k", |b| {
        b.iter(|| bizra::verify_message(id.public_key(), black_box(&msg), &sig))
    });
    g.bench_function("baseline_raw_sign_1k", |b| {
        b.iter(|| raw.sign(black_box(&msg)))
    });
    g.bench_function("baseline_raw_verify_strict_1k", |b| {
        b.iter(|| vk.verify_strict(black_box(&msg), &raw_sig).is_ok())
    });
    let vk_bytes = vk.to_bytes();
    g.bench_function("baseline_raw_decompress_verify_strict_1k", |b| {
        b.iter(|| {
            ed25519_dalek::VerifyingKey::from_bytes(black_box(&vk_bytes))
                .is_ok_and(|k| k.verify_strict(&msg, &raw_sig).is_ok())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("blake3");
    g.throughput(Throughput::Bytes(msg.len() as u64));
    g.bench_function("domain_hash_1k", |b| {
        b.iter(|| bizra::hash::domain_hash(bizra::hash::Domain::Pci, black_box(&msg)))
    });
    g.bench_function("baseline_raw_1k", |b| {
        b.iter(|| blake3::hash(black_box(&msg)))
    });
    g.finish();
}

fn envelope(c: &mut Criterion) {
    let id = Identity::from_seed(&[9; 32]).unwrap();
    let p1k = payload(1024);
    let p10k = payload(10 * 1024);
    let env = Envelope::builder(p1k.clone())
        .snr(0.9)
        .ihsan(0.97)
        .sign(&id)
        .unwrap();
    let opts = VerifyOptions::default();

    let mut g = c.benchmark_group("envelope");
    g.bench_function("create_1k", |b| {
        b.iter(|| Envelope::builder(black_box(p1k.clone())).sign(&id).unwrap())
    });
    g.bench_function("verify_1k", |b| {
        b.iter(|| black_box(&env).verify(&opts).is_ok())
    });
    let wire = env.to_json();
    g.bench_function("parse_verify_1k", |b| {
        b.iter(|| Envelope::parse(black_box(&wire)).is_ok_and(|e| e.verify(&opts).is_ok()))
    });
    g.bench_function("create_verify_1k", |b| {
        b.iter(|| {
            let e = Envelope::builder(black_box(p1k.clone())).sign(&id).unwrap();
            e.verify(&opts).is_ok()
        })
    });
    g.bench_function("create_10k", |b| {
        b.iter(|| {
            Envelope::builder(black_box(p10k.clone()))
                .sign(&id)
                .unwrap()
        })
    });
    g.bench_function("payload_clone_1k", |b| b.iter(|| black_box(p1k.clone())));
    let floats = float_payload();
    g.bench_function("create_floats_100", |b| {
        b.iter(|| {
            Envelope::builder(black_box(floats.clone()))
                .sign(&id)
                .unwrap()
        })
    });
    let float_bytes = canonical::to_vec(&floats).unwrap();
    let raw = SigningKey::from_bytes(&[9; 32]);
    g.bench_function("baseline_raw_sign_floats_100", |b| {
        b.iter(|| raw.sign(black_box(&float_bytes)))
    });
    g.bench_function("jcs_floats_100", |b| {
        b.iter(|| canonical::to_vec(black_box(&floats)).unwrap())
    });
    let batch: Vec<Envelope> = (0..64)
        .map(|i| {
            Envelope::builder(json!({"i": i, "p": p1k.clone()}))
                .sign(&id)
                .unwrap()
        })
        .collect();
    g.bench_function("verify_single_x64", |b| {
        b.iter(|| batch.iter().filter(|e| e.verify(&opts).is_ok()).count())
    });
    g.bench_function("verify_batch_64", |b| {
        b.iter(|| {
            verify_batch(black_box(&batch), &opts)
                .iter()
                .filter(|r| r.is_ok())
                .count()
        })
    });
    g.finish();
}

fn gates(c: &mut Criterion) {
    let id = Identity::from_seed(&[9; 32]).unwrap();
    let env = Envelope::builder(payload(1024))
        .snr(0.9)
        .ihsan(0.97)
        .sign(&id)
        .unwrap();
    let bad_json = env.to_json().replace("\"ttl\":3600", "\"ttl\":0");
    let bad = Envelope::parse(&bad_json).unwrap();
    let chain = stateless_chain();
    let t = now();

    let mut g = c.benchmark_group("gates");
    g.bench_function("chain_valid", |b| {
        b.iter(|| chain.check_at(black_box(&env), t).passed)
    });
    g.bench_function("chain_invalid_at_schema", |b| {
        b.iter(|| chain.check_at(black_box(&bad), t).code() == Some(RejectCode::TtlRange))
    });
    g.bench_function("score_gate_snr", |b| {
        b.iter(|| {
            score_gate(
                black_box(Some(0.91)),
                black_box(0.85),
                "snr",
                RejectCode::GateSnr,
            )
            .is_ok()
        })
    });
    g.bench_function("chain_admit_with_replay", |b| {
        b.iter_batched(
            || {
                let e = Envelope::builder(json!(1))
                    .snr(0.9)
                    .ihsan(0.97)
                    .sign(&id)
                    .unwrap();
                (GateChain::default(), e)
            },
            |(chain, e)| chain.admit_at(&e, t).passed,
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// A federation datagram (GOSSIP-v1) with a 200-byte body, sealed and opened (parsed and
/// verified with a decompressed sender key, as a receiver holds it), beside raw Ed25519 signing
/// and strict verification of the same signed bytes.
fn federation(c: &mut Criterion) {
    use bizra::federation::datagram::{self, Header, Kind};
    use bizra::identity::PeerKey;
    let id = Identity::from_seed(&[9; 32]).unwrap();
    let header = Header {
        kind: Kind::Swim,
        federation: [7; 32],
        sender: *id.public_key(),
        generation: 1 << 16,
        sequence: 1,
        sent_at_ms: 1_800_000_000_000,
    };
    let body = vec![0x5a; 200];
    let key = PeerKey::from_bytes(id.public_key()).unwrap();
    let sealed = datagram::seal(&id, &header, &body).unwrap();
    let signed = sealed[..sealed.len() - 64].to_vec();
    let raw = SigningKey::from_bytes(&[9; 32]);
    let vk = raw.verifying_key();
    let mut g = c.benchmark_group("federation");
    g.bench_function("datagram_seal_open", |b| {
        b.iter(|| {
            let d = datagram::seal(&id, &header, black_box(&body)).unwrap();
            datagram::parse(&d).is_ok_and(|u| u.verify(&key))
        })
    });
    g.bench_function("baseline_raw_sign_verify_strict", |b| {
        b.iter(|| {
            let sig = raw.sign(black_box(&signed));
            vk.verify_strict(&signed, &sig).is_ok()
        })
    });
    g.finish();
}

fn tiers(c: &mut Criterion) {
    let complex = format!(
        "Please explain this code: ```{}```",
        "let x = 1; ".repeat(40)
    );
    let mut g = c.benchmark_group("tier");
    g.bench_function("select_simple", |b| {
        b.iter(|| select_tier(black_box("What is 2+2?"), 64, None))
    });
    g.bench_function("select_complex", |b| {
        b.iter(|| select_tier(black_box(&complex), 1024, None))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = identity, envelope, gates, federation, tiers
}

fn print_table() {
    let m = |g: &str, n: &str| common::mean_ns(g, n).unwrap_or(f64::NAN);
    let per_sec = |ns: f64| 1e9 / ns;
    println!("\n== bizra core: figures beside their baselines (same run) ==");
    println!("machine: {}", common::machine());
    println!(
        "{:<44} {:>14} {:>14} {:>8} {:>8}",
        "measure", "ours/s", "baseline/s", "ratio", "target"
    );
    let rows = [
        (
            "envelope create 1 KiB vs raw sign 1 KiB",
            m("envelope", "create_1k"),
            m("identity", "baseline_raw_sign_1k"),
            0.85,
        ),
        (
            "envelope create, 100 doubles vs raw sign",
            m("envelope", "create_floats_100"),
            m("envelope", "baseline_raw_sign_floats_100"),
            0.0,
        ),
        (
            "datagram seal+open vs raw sign+verify_strict",
            m("federation", "datagram_seal_open"),
            m("federation", "baseline_raw_sign_verify_strict"),
            0.90,
        ),
        (
            "envelope verify 1 KiB vs raw verify_strict",
            m("envelope", "verify_1k"),
            m("identity", "baseline_raw_verify_strict_1k"),
            0.90,
        ),
        (
            "parse+verify from text vs raw decompress+verify",
            m("envelope", "parse_verify_1k"),
            m("identity", "baseline_raw_decompress_verify_strict_1k"),
            0.0,
        ),
        (
            "identity sign 1 KiB vs raw sign",
            m("identity", "sign_1k"),
            m("identity", "baseline_raw_sign_1k"),
            0.0,
        ),
        (
            "identity verify 1 KiB vs raw decompress+verify",
            m("identity", "verify_1k"),
            m("identity", "baseline_raw_decompress_verify_strict_1k"),
            0.0,
        ),
        (
            "BLAKE3 domain hash 1 KiB vs raw BLAKE3",
            m("blake3", "domain_hash_1k"),
            m("blake3", "baseline_raw_1k"),
            0.0,
        ),
        (
            "batch verify (64) per envelope vs single",
            m("envelope", "verify_batch_64") / 64.0,
            m("envelope", "verify_single_x64") / 64.0,
            1.8,
        ),
    ];
    for (name, ours, base, target) in rows {
        let ratio = base / ours;
        let verdict = if target == 0.0 {
            "-".to_string()
        } else if ratio >= target {
            format!("≥{target} ok")
        } else {
            format!("<{target} MISS")
        };
        println!(
            "{name:<44} {:>14.0} {:>14.0} {:>7.2}x {:>8}",
            per_sec(ours),
            per_sec(base),
            ratio,
            verdict
        );
    }
    let score = per_sec(m("gates", "score_gate_snr"));
    println!(
        "{:<44} {:>14.0} {:>14} {:>8} {:>8}",
        "score gate checks",
        score,
        "-",
        "-",
        if score >= 1e7 {
            "≥10M ok"
        } else {
            "<10M MISS"
        }
    );
    for (name, g, n) in [
        ("identity generate", "identity", "generate"),
        (
            "envelope create+verify 1 KiB",
            "envelope",
            "create_verify_1k",
        ),
        ("envelope create 10 KiB", "envelope", "create_10k"),
        (
            "JCS of the 100-double payload",
            "envelope",
            "jcs_floats_100",
        ),
        ("gate chain, valid (no replay)", "gates", "chain_valid"),
        (
            "gate chain, invalid at schema",
            "gates",
            "chain_invalid_at_schema",
        ),
        ("tier select simple", "tier", "select_simple"),
        ("tier select complex", "tier", "select_complex"),
    ] {
        println!("{name:<44} {:>14.0}", per_sec(m(g, n)));
    }
    println!(
        "(payload clone cost inside create: {:.0} ns of {:.0} ns)",
        m("envelope", "payload_clone_1k"),
        m("envelope", "create_1k")
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_table();
}
