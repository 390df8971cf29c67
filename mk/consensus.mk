# BFT consensus (crates/bizra-consensus, and the node that runs it in crates/bizra-runtime): its
# suites run in `cargo test` (test-rust); here are its benches and demo.

.PHONY: bench-consensus demo-consensus

# Commit-certificate verification beside n raw verify_strict calls (n = 4, 7, 16, 64), with the
# CPU model and the ratio to the baseline from the same run (goal ≥ 0.9); decision latency and
# batched throughput of validators on real loopback TCP, beside the signature checks they need;
# then rounds, messages and time per decision by simulation at n = 4, 16, 64 and 128 (about a
# minute).
bench-consensus:
	$(CARGO) bench -p bizra-consensus --bench certificate
	$(CARGO) bench -p bizra-runtime --bench consensus
	$(CARGO) bench -p bizra-consensus --bench consensus_sim

# Four validator processes on loopback decide a proposal; the certificate is verified in a fresh
# Python process; one validator is killed and the other three decide the next.
demo-consensus: python-install
	$(CARGO) build --release --quiet --bin bizra-node
	$(PY_ENV) scripts/demo-consensus.sh $(LIBDIR)/bizra-node "$(PY)"

BENCHES += bench-consensus
DEMOS   += demo-consensus
