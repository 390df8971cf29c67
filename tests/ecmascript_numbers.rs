//! bizra's canonical numbers against a real ECMAScript engine (Node.js, which `make test` needs).
//!
//! RFC 8785 writes numbers exactly as ECMAScript's `Number::toString`, and an envelope signed over a
//! number that another implementation writes differently fails to verify there. So: at least a
//! million doubles a run (random bit patterns, random 15–17 digit decimals, constructed exact ties,
//! the neighbourhoods of 2^53, 1e21, 1e-6, 1e-7 and of every power of ten, subnormals and the
//! extremes), each written by bizra and by `String(x)`, which must agree; and Node's text read back
//! by bizra's parser, which must give the same double. Then the parser alone on texts that are hard
//! to read correctly (exact midpoints between doubles and their neighbours, long mantissas,
//! subnormal and overflowing exponents), each against `JSON.parse`.
//!
//! `BIZRA_NODE` names the node binary (default `node`); `BIZRA_NUMBERS_SEED` replays a run.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use bizra::canonical;
use serde_json::{Number, Value};

/// xorshift64*: a small seeded generator, so that a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn signed(&mut self, x: f64) -> f64 {
        if self.next() & 1 == 1 {
            -x
        } else {
            x
        }
    }
}

fn seed() -> u64 {
    std::env::var("BIZRA_NUMBERS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
        | 1
}

/// The doubles `x` and the `n` doubles on each side of it (by bit pattern, so by ulps).
fn around(x: f64, n: u64, out: &mut Vec<f64>) {
    let b = x.to_bits();
    for i in 0..=n {
        for bits in [b.wrapping_add(i), b.wrapping_sub(i)] {
            let y = f64::from_bits(bits);
            if y.is_finite() {
                out.push(y);
                out.push(-y);
            }
        }
    }
}

/// Doubles whose exact decimal value has 16–18 significant digits and ends in 5: m / 2^k with m
/// odd, whose exact value is m·5^k / 10^k. Where a shorter digit string round-trips, two of them
/// are equally close, and ECMAScript takes the even one.
fn exact_ties(rng: &mut Rng, count: usize, out: &mut Vec<f64>) {
    let mut made = 0;
    while made < count {
        let k = 1 + rng.below(26) as u32;
        let digits = 16 + rng.below(3) as u32;
        let five_k = 5u128.pow(k);
        let lo = 10u128.pow(digits - 1).div_ceil(five_k);
        let hi = (10u128.pow(digits) / five_k).min(1 << 53);
        if lo >= hi {
            continue;
        }
        let m = (lo + (u128::from(rng.next()) % (hi - lo))) | 1;
        if m >= hi {
            continue;
        }
        let x = m as f64 / (1u64 << k) as f64; // exact: m < 2^53, and a power of two divides
        out.push(rng.signed(x));
        made += 1;
    }
}

fn doubles(seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed);
    let mut xs = Vec::with_capacity(1_100_000);
    // Random bit patterns: every exponent equally likely.
    while xs.len() < 500_000 {
        let x = f64::from_bits(rng.next());
        if x.is_finite() {
            xs.push(x);
        }
    }
    // Random 15–17 digit decimals, as programs and people write them.
    for _ in 0..200_000 {
        let digits = 15 + rng.below(3) as u32;
        let m = 10u64.pow(digits - 1) + rng.below(9 * 10u64.pow(digits - 1));
        let e = rng.below(620) as i64 - 320;
        let x: f64 = format!("{m}e{e}").parse().unwrap_or(0.0);
        if x.is_finite() && x != 0.0 {
            xs.push(rng.signed(x));
        }
    }
    exact_ties(&mut rng, 200_000, &mut xs);
    // Where the plain and exponent forms meet, and where integers stop being exact.
    for t in [9_007_199_254_740_992.0, 1e21, 1e-6, 1e-7] {
        around(t, 2_500, &mut xs);
    }
    for p in -323..=308 {
        around(format!("1e{p}").parse().unwrap_or(1.0), 25, &mut xs);
    }
    // Subnormals and the extremes.
    for _ in 0..50_000 {
        let subnormal = f64::from_bits(rng.below(1 << 52));
        xs.push(rng.signed(subnormal));
    }
    for x in [f64::MIN_POSITIVE, f64::MAX, f64::EPSILON, 5e-324, 0.0, 1.0] {
        around(x, 100, &mut xs);
    }
    xs
}

fn node(args: &[&str], stdin: &[u8]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ecmascript/numbers.mjs");
    let node = std::env::var("BIZRA_NODE").unwrap_or_else(|_| "node".into());
    let mut child = Command::new(&node)
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `{node}` ({e}): this test compares with Node.js; set BIZRA_NODE")
        });
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let out = child.wait_with_output().expect("node runs");
    writer
        .join()
        .expect("writer")
        .expect("node reads its input");
    assert!(out.status.success(), "node {args:?} failed: {}", out.status);
    String::from_utf8(out.stdout).expect("node writes UTF-8")
}

/// Integral doubles beyond 2^53 − 1 and below 1e21: ECMAScript writes them as integer literals,
/// which I-JSON refuses, so bizra refuses them both ways (tested below rather than compared).
fn beyond_i_json(x: f64) -> bool {
    x.fract() == 0.0 && x.abs() > canonical::MAX_SAFE_INTEGER as f64 && x.abs() < 1e21
}

fn parsed_f64(text: &str) -> Result<f64, String> {
    match canonical::parse(text) {
        Ok(Value::Number(n)) => n.as_f64().ok_or_else(|| format!("{n} is not a double")),
        Ok(other) => Err(format!("parsed as {other}")),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn writer_and_parser_agree_with_ecmascript_on_a_million_doubles() {
    let seed = seed();
    let xs = doubles(seed);
    assert!(xs.len() >= 1_000_000, "only {} doubles", xs.len());
    let bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
    let js = node(&["format"], &bytes);
    let js: Vec<&str> = js.lines().collect();
    assert_eq!(js.len(), xs.len(), "node wrote one line per double");

    let mut differences = Vec::new();
    let mut refused = 0;
    for (&x, &text) in xs.iter().zip(&js) {
        let value = Value::Number(Number::from_f64(x).expect("finite"));
        if beyond_i_json(x) {
            refused += 1;
            if canonical::to_vec(&value).is_ok() || canonical::parse(text).is_ok() {
                differences.push(format!("{x:e}: accepted, but {text} is not I-JSON"));
            }
            continue;
        }
        let ours = canonical::to_string(&value).unwrap_or_else(|e| format!("error: {e}"));
        if ours != text {
            differences.push(format!("{x:e}: bizra {ours}, ECMAScript {text}"));
        }
        match parsed_f64(text) {
            // -0 is written "0", which reads back as 0.
            Ok(y) if y.to_bits() == x.to_bits() || (x == 0.0 && y == 0.0) => {}
            Ok(y) => differences.push(format!("{text}: read as {y:e}, not {x:e}")),
            Err(e) => differences.push(format!("{text}: refused ({e})")),
        }
    }
    assert!(
        differences.is_empty(),
        "seed {seed}: {} of {} doubles differ from ECMAScript, first: {:#?}",
        differences.len(),
        xs.len(),
        &differences[..differences.len().min(20)]
    );
    println!(
        "seed {seed}: {} doubles agree with ECMAScript ({refused} refused as beyond I-JSON)",
        xs.len()
    );
}

#[test]
fn parser_reads_what_json_parse_reads() {
    let seed = seed();
    let cases = node(&["parse", &seed.to_string(), "200000"], &[]);
    let mut differences = Vec::new();
    let mut n = 0;
    for line in cases.lines() {
        n += 1;
        let Some((text, bits)) = line.split_once('\t') else {
            panic!("bad line from node: {line}");
        };
        let got = parsed_f64(text);
        let ok = match (bits, &got) {
            ("inf", Err(_)) => true, // I-JSON has no infinities
            ("inf", Ok(_)) => false,
            (_, Ok(y)) => u64::from_str_radix(bits, 16).ok() == Some(y.to_bits()),
            (_, Err(_)) => false,
        };
        if !ok {
            differences.push(format!("{text}: bizra {got:?}, JSON.parse bits {bits}"));
        }
    }
    assert_eq!(n, 200_000, "node wrote every case");
    assert!(
        differences.is_empty(),
        "seed {seed}: {} of {n} texts read differently, first: {:#?}",
        differences.len(),
        &differences[..differences.len().min(20)]
    );
}
