#!/usr/bin/env bash
# Usage: test-dist-rust.sh WORK
#
# A verify-only Rust user: a fresh Cargo project in WORK (a workspace of its own) that depends on
# `bizra` by path with `default-features = false`, and serde_json, whose main is
# examples/rust/quickstart.rs (an identity signs an envelope, the gate chain admits it, a
# tampered copy is refused). Its dependency tree must hold nothing that builds native code with
# cmake or libclang, and it builds and runs with no cmake on PATH (blake3 still compiles its
# assembly with cc). The workspace's Cargo.lock is copied in, so the versions are the tested ones
# and nothing is downloaded.
set -euo pipefail

work=${1:?usage: test-dist-rust.sh WORK}
repo=$PWD

rm -rf "$work"
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<EOF
[package]
name = "verify-only"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
bizra = { path = "$repo", default-features = false }
serde_json = "1"

[workspace]
EOF
cp examples/rust/quickstart.rs "$work/src/main.rs"
cp Cargo.lock "$work/Cargo.lock"

PATH=$(scripts/dist-path.sh "$work/bin" cargo rustc cc)
export PATH
cd "$work"
if cargo tree --offline -e normal,build --prefix none | grep -E '^(llama-cpp|cmake|bindgen|clang-sys|cxx-build|usearch|libsqlite3-sys) '; then
  echo "test-dist-rust: bizra without default features depends on a native build (above)" >&2
  exit 1
fi
cargo run --offline --release --quiet > run.out
grep -q '^admitted      true$' run.out
grep -q '^tampered copy refused: ' run.out
echo "test-dist-rust: a fresh project on bizra (default-features = false) signed, admitted and" \
  "refused a tampered envelope, built without cmake"
