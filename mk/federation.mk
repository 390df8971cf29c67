# Federation membership (crates/bizra-federation, crates/bizra-runtime): its suites run in
# `cargo test` (test-rust); here are its demo and bench.

.PHONY: demo-federation bench-federation

# Four bizra-node processes on loopback: converge, one killed and detected, one leaves.
demo-federation:
	$(CARGO) build --release --quiet --bin bizra-node
	scripts/demo-federation.sh $(LIBDIR)/bizra-node

# Dissemination and failure detection on real loopback UDP, beside the references; then the
# simulator at 100 and 1,000 nodes (BIZRA_SIM_SIZES=100,1000,5000 for more: 13 GB of memory and 8 minutes at 5,000).
bench-federation:
	$(CARGO) bench -p bizra-runtime --features fault-injection --bench federation
	$(CARGO) bench -p bizra-federation --bench simulation

DEMOS   += demo-federation
BENCHES += bench-federation
