# The autopoiesis store's benchmarks.
#
#   make bench-autopoiesis   recall top-10 at 10K and 100K patterns (index beside exact search,
#                            recall@10, open/rebuild/load costs), then learning with SmolLM2
#                            (embed + insert per second beside each part alone)

.PHONY: bench-autopoiesis

bench-autopoiesis: llama-deps model
	$(CARGO) bench -p bizra-autopoiesis --bench recall
	$(CARGO) bench -p bizra-autopoiesis --bench learn
BENCHES += bench-autopoiesis
