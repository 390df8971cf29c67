# The `bizra` program (cli/): every command run as a subprocess of the built binary on temporary
# data directories, a real generation with the test model among them (BIZRA_TEST_MODEL, from
# mk/inference.mk), and `models download` against an HTTP server started by the test.
#
#   make cli        build target/release/bizra
#   make test-cli   the CLI's suites alone (`make test` runs them in test-rust: cli is a default
#                   member of the workspace)
#   make demo-cli   init, identity show, a signed answer from SmolLM2, pci verify of that envelope,
#                   then bizra serve answering one request from the openai client, its envelope
#                   verified

BIZRA_BIN := $(LIBDIR)/bizra

.PHONY: cli test-cli demo-cli

cli: llama-deps
	$(CARGO) build --release -p bizra-cli

test-cli: llama-deps model
	$(CARGO) test --release -p bizra-cli

# Ends with `bizra serve` answering the `openai` client, in the Python binding's venv (mk/python.mk),
# where `make demo` has installed the binding already.
demo-cli: cli model python-install
	cli/demo.sh "$(BIZRA_BIN)" "$(INFERENCE_MODEL)" "$(PY)"

# In `make demo` through demo-serve (mk/server.mk), so that it runs last.
