# The HTTP/WebSocket API (crates/bizra-server): what `bizra serve` runs. Its suites (real HTTP
# and WebSocket clients over loopback, SmolLM2 generations, a 4-validator loopback federation,
# the OpenAPI drift check) run in `make test` through test-rust: the crate is a default member
# of the workspace. Here they run alone, and the committed OpenAPI document is rewritten.
#
#   make test-server   the server's suites alone (needs the test model: `make model`)
#   make openapi       rewrite crates/bizra-server/openapi.json from the served document

.PHONY: test-server openapi

test-server: llama-deps model
	$(CARGO) test --release -p bizra-server

openapi: llama-deps
	BIZRA_UPDATE_OPENAPI=1 $(CARGO) test --release -p bizra-server --test openapi

# Real clients of a real `bizra serve` (the built program, on a temporary data directory with the
# test model): the official `openai` Python package (chat completions plain and streamed, the
# model list; each `bizra_envelope` verified with bizra's own Python binding and compared with
# the text received) and schemathesis against the served OpenAPI document (no 5xx, every answer
# as documented). crates/bizra-server/tests/clients/, pytest, in a venv of their own (cached);
# the binding is built as a wheel by the Python venv's maturin (mk/python.mk), so its pyo3 build
# is the one `make python-install` makes, and installed there.
#
#   make test-server-clients   BIZRA_FUZZ_EXAMPLES=N sets schemathesis' examples per operation
#                              (default 100)
#   make bench-server          POST /api/v1/pci/envelope/verify under a load generator on
#                              loopback beside in-process verify; streaming through
#                              /v1/chat/completions beside in-process generation
#                              (crates/bizra-server/benches/server.rs)
#   make demo-serve            demo-cli (mk/cli.mk): init, a signed answer, pci verify, then
#                              bizra serve answering the openai client, its envelope verified

CLIENTS_VENV   := $(BIZRA_CACHE)/venv-clients
CLIENTS_PY     := $(CLIENTS_VENV)/bin/python
# schemathesis 4.32's pytest integration (from_fixture) reads an attribute pytest 9.2 removed.
CLIENTS_TOOLS  := $(OPENAI_CLIENT) schemathesis>=4.32,<5 pytest>=8.4,<9.2
CLIENTS_STAMP  := $(call tools-stamp,$(CLIENTS_VENV),$(CLIENTS_TOOLS))
CLIENTS_WHEELS := $(BIZRA_CACHE)/wheels/bizra-clients

.PHONY: test-server-clients clients-venv demo-serve bench-server

$(CLIENTS_STAMP):
	python3 -m venv "$(CLIENTS_VENV)"
	"$(CLIENTS_PY)" -m pip install --quiet --upgrade pip
	"$(CLIENTS_PY)" -m pip install --quiet $(foreach t,$(CLIENTS_TOOLS),'$(t)')
	touch "$@"

# The binding as the user's wheel (default features), built by the Python venv's tools.
clients-venv: $(CLIENTS_STAMP) $(PY_STAMP) llama-deps
	rm -rf "$(CLIENTS_WHEELS)"
	$(PY_ENV) "$(PY)" -m pip wheel --quiet --no-build-isolation --no-deps -w "$(CLIENTS_WHEELS)" ./bindings/python
	"$(CLIENTS_PY)" -m pip install --quiet --force-reinstall --no-deps "$(CLIENTS_WHEELS)"/bizra-*.whl

test-server-clients: cli model clients-venv
	BIZRA_BIN="$(BIZRA_BIN)" BIZRA_TEST_MODEL="$(INFERENCE_MODEL)" \
	  "$(CLIENTS_PY)" -m pytest -q -p no:cacheprovider --durations=0 crates/bizra-server/tests/clients

TESTS += test-server-clients

bench-server: llama-deps model
	BIZRA_TEST_MODEL="$(INFERENCE_MODEL)" $(CARGO) bench -p bizra-server --bench server
BENCHES += bench-server

# `make demo` ends with the node's first minutes and its API answering an OpenAI client.
demo-serve: demo-cli
DEMOS_LAST += demo-serve
