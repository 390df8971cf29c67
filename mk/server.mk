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
