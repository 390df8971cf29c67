# Federation membership (crates/bizra-federation, crates/bizra-runtime): its suites run in
# `cargo test` (test-rust); here are its demo and bench.

.PHONY: demo-federation bench-federation

# Four bizra-node processes on loopback: converge, one killed and detected, one leaves.
demo-federation:
	$(CARGO) build --release --quiet -p bizra-runtime --bin bizra-node
	scripts/demo-federation.sh $(LIBDIR)/bizra-node

DEMOS += demo-federation
