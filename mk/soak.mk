# Soak (bounded resources under load): crates/bizra-server/tests/soak.rs drives generations on
# the test model through a small engine queue (some refused BUSY), verifications, and gossip and
# consensus among four validators on loopback with injected faults (junk, truncated, forged and
# replayed datagrams; a validator crashed and restarted), then checks that every request got an
# answer or a clear error, that VmRSS stayed flat after the warm-up, and that the nodes and the
# engine are live. `make test` runs it for 30 s (in test-rust); `make soak` for SOAK_SECONDS.
#
#   make soak                   600 s
#   make soak SOAK_SECONDS=120

SOAK_SECONDS ?= 600

.PHONY: soak

soak: llama-deps model
	BIZRA_SOAK_SECONDS=$(SOAK_SECONDS) BIZRA_TEST_MODEL="$(INFERENCE_MODEL)" \
	  $(CARGO) test --release -p bizra-server --test soak -- --nocapture
