#!/usr/bin/env python3
"""Runs the Rust-core and C-ABI envelope benchmarks alternately and prints a table with ratios.

ratio = Rust ns/op / C ns/op (throughput of the C ABI relative to the core; target >= 0.97).
Usage: compare.py RUST_BIN C_BIN [ROUNDS] [ITERS]
"""
import statistics
import subprocess
import sys


def run(binary, iters):
    out = subprocess.run([binary, str(iters)], check=True, capture_output=True, text=True).stdout
    create, verify = (float(x) for x in out.split())
    return create, verify


def main():
    rust_bin, c_bin = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    rust, c = [], []
    for _ in range(rounds):  # alternate, so drift and neighbours' load hit both sides alike
        rust.append(run(rust_bin, iters))
        c.append(run(c_bin, iters))
    print(f"envelope benchmark: {rounds} alternating rounds x {iters} iterations, median ns/op")
    print(f"{'operation':<18}{'Rust core':>12}{'C ABI':>12}{'ratio':>8}  target >= 0.97")
    for i, name in enumerate(["envelope create", "envelope verify"]):
        r = statistics.median(x[i] for x in rust)
        k = statistics.median(x[i] for x in c)
        ratio = r / k
        mark = "ok" if ratio >= 0.97 else "BELOW TARGET"
        print(f"{name:<18}{r:>12.0f}{k:>12.0f}{ratio:>8.3f}  {mark}")


if __name__ == "__main__":
    main()
