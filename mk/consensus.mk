# BFT consensus (crates/bizra-consensus): its suites run in `cargo test` (test-rust); here is its
# certificate bench. (Rounds, messages and time per decision, by simulation:
# `cargo bench -p bizra-consensus --bench consensus_sim`.)

.PHONY: bench-consensus

# Commit-certificate verification beside n raw verify_strict calls (n = 4, 7, 16, 64), with the
# CPU model and the ratio to the baseline from the same run (goal ≥ 0.9).
bench-consensus:
	$(CARGO) bench -p bizra-consensus --bench certificate

BENCHES += bench-consensus
