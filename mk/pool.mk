# The Pool tier against a real OpenAI-compatible server: llama-cpp-python's (the reference for
# the protocol, written by nobody here), serving the test model on loopback.
#
#   make pool-server   install it into a venv of its own in the cache (compiles llama.cpp once,
#                      about 5 minutes on 2 cores; the wheel is cached, so a new venv takes
#                      seconds); cached by the install script's stamp
#   make bench-pool    streaming generation through RemoteClient::stream beside a plain HTTP
#                      client reading the same server's stream in the same run
#
# Every recipe sees BIZRA_POOL_PYTHON (the venv's interpreter) and BIZRA_POOL_SERVER
# (scripts/pool_server.py). A suite of any language starts a server with
#
#   $BIZRA_POOL_PYTHON $BIZRA_POOL_SERVER --model $BIZRA_TEST_MODEL
#
# with stdin and stdout pipes, reads ONE line (the base URL, http://127.0.0.1:PORT/v1), and stops
# it by closing stdin (see the script's header). Suites fail, naming `make pool-server`, when the
# variables are unset.

# The version the install script pins (its stamp names it).
POOL_VERSION := $(shell sed -n 's/^VERSION="\(.*\)"/\1/p' scripts/pool-server-install.sh)
POOL_VENV    := $(BIZRA_CACHE)/venv-pool
POOL_STAMP   := $(POOL_VENV)/.llama-cpp-python-$(POOL_VERSION)
export BIZRA_POOL_PYTHON ?= $(POOL_VENV)/bin/python
export BIZRA_POOL_SERVER ?= $(CURDIR)/scripts/pool_server.py

.PHONY: pool-server bench-pool

pool-server: $(POOL_STAMP)
	@echo "pool-server: $(BIZRA_POOL_PYTHON) $(BIZRA_POOL_SERVER)"

# The script writes the stamp last, only once the server imports: a failed build leaves none, and
# the next make tries again. The version is in the stamp's name: a new version installs again.
$(POOL_STAMP):
	scripts/pool-server-install.sh "$(BIZRA_CACHE)" >/dev/null

# Every suite that talks to a real pool server (the Rust suites now; the bindings' suites as they
# gain Pool-tier tests).
test-rust test-c test-python test-node test-kotlin: pool-server
TESTS := pool-server $(TESTS)

# One server, 2 threads, the test model; greedy requests streamed alternately by both clients.
bench-pool: llama-deps model pool-server
	$(CARGO) bench -p bizra-inference --bench pool
BENCHES += bench-pool
