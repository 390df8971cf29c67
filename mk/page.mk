# The status page that `bizra serve`/`bizra join` serve at `/` (crates/bizra-server/src/page.html),
# in headless Chromium: Debian's `chromium` (apt-installed here when missing, as root), driven by
# Python Playwright from PyPI in a venv of its own in the cache (the system browser: Playwright
# downloads no browser). crates/bizra-server/tests/page/status_page.py starts the real `bizra`
# (a `join` node with the test model, then a second node joining it), opens the page, and checks
# that it loads, shows the second node in the live peer list, takes the token, streams an answer
# and shows its envelope verified; then that a server without model or federation says so. Any
# console error fails it. Screenshots: $(PAGE_SHOT) and its -degraded sibling.
#
#   make test-page   the page test (in `make test`)

PAGE_VENV       := $(BIZRA_CACHE)/venv-browser
PLAYWRIGHT_PIN  := 1.65.3
PAGE_VENV_STAMP := $(PAGE_VENV)/.playwright-$(PLAYWRIGHT_PIN)
PAGE_SHOT       := $(TARGET_DIR)/bizra-status-page.png

.PHONY: test-page chromium

chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian's) for the status page test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "the status page test needs chromium: apt-get install chromium" >&2; exit 1; \
	  fi; \
	fi

$(PAGE_VENV_STAMP):
	python3 -m venv "$(PAGE_VENV)"
	"$(PAGE_VENV)/bin/pip" install -q --disable-pip-version-check "playwright==$(PLAYWRIGHT_PIN)"
	touch "$@"

test-page: llama-deps model chromium $(PAGE_VENV_STAMP)
	$(CARGO) build --release -p bizra-cli
	"$(PAGE_VENV)/bin/python" crates/bizra-server/tests/page/status_page.py \
	  --bizra "$(BIZRA_BIN)" --model "$(INFERENCE_MODEL)" --screenshot "$(PAGE_SHOT)"

TESTS += test-page
