# The C ABI (bizra-sys): libbizra.so / libbizra.a, include/bizra.h, the C suite, pkg-config, install.
#
#   make test-c      header drift + bizra-sys's Rust tests (every export through the boundary,
#                    panics, the status table, ownership docs, the README's C names) + symbols
#                    + C suite (shared under valgrind, static, ASan)
#                    + federation suite on loopback UDP (natively, under valgrind, ASan)
#                    + consensus suite: every certificate vector verified offline by a process
#                      that never runs a node, equivocation evidence refused by code (natively,
#                      under valgrind, ASan)
#                    + consensus-node suite: four validators on loopback decide a proposal, every
#                      certificate verified (natively, under valgrind, ASan)
#                    + inference suite on the real model (natively and ASan)
#                    + gateway suite: the Pool tier against the reference server (llama-cpp-python,
#                      mk/pool.mk) and fallbacks to the real model (natively and ASan)
#                    + examples
#                    + pkg-config/install round trip
#   make header      regenerate include/bizra.h with the pinned cbindgen
#   make bench-c     envelope create/verify through the C ABI beside the Rust core
#   make demo-c      build and run examples/c/quickstart.c
#   make demo-c-inference   build and run examples/c/inference.c on the test model
#   make demo-c-federation  build and run examples/c/federation.c (two nodes on loopback)
#   make demo-c-consensus   build and run examples/c/consensus.c (four validators decide)
#   make install PREFIX=/usr/local   lib, header and bizra.pc

CBINDGEN_VERSION := 0.29.4
CBINDGEN  := $(BIZRA_CACHE)/tools/bin/cbindgen
CBUILD    := $(TARGET_DIR)/c
CC        ?= cc
C_CFLAGS  := -std=c11 -O2 -g -Wall -Wextra -Werror -Iinclude
# The static library carries llama.cpp (C++ with OpenMP) besides the Rust code.
C_STATIC_LIBS := -lstdc++ -lgomp -lpthread -ldl -lm
BIZRA_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
PREFIX    ?= /usr/local
VALGRIND  := valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
# A directory holding the SONAME link (libbizra.so.0 -> libbizra.so) for the tests' rpath.
C_RPATH   := $(CBUILD)/lib

.PHONY: c-lib header header-check symbols-c test-c bench-c demo-c demo-c-inference demo-c-federation demo-c-consensus install c-coverage

c-lib:
	$(CARGO) build --release -p bizra-sys
	mkdir -p "$(C_RPATH)"
	ln -sf "$(LIBDIR)/libbizra.so" "$(C_RPATH)/libbizra.so.0"
	ln -sf "$(LIBDIR)/libbizra.so" "$(C_RPATH)/libbizra.so"

$(CBINDGEN):
	$(CARGO) install cbindgen --version $(CBINDGEN_VERSION) --locked --root "$(BIZRA_CACHE)/tools"

header: $(CBINDGEN)
	"$(CBINDGEN)" -q --config cbindgen.toml --crate bizra-sys --output include/bizra.h

# The committed header must be what the pinned cbindgen generates from the sources.
header-check: $(CBINDGEN)
	mkdir -p "$(CBUILD)"
	"$(CBINDGEN)" -q --config cbindgen.toml --crate bizra-sys --output "$(CBUILD)/bizra.h"
	diff -u include/bizra.h "$(CBUILD)/bizra.h" || { echo "include/bizra.h is stale: run make header and commit it" >&2; exit 1; }

# libbizra.so exports only bizra_* (exactly the functions the header declares) and UniFFI's
# namespaced symbols for the Kotlin and Swift bindings (uniffi_bizra_*, ffi_bizra_*, UNIFFI_META_*
# of this crate), and carries its SONAME. ggml/llama/std symbols must never appear.
# $(call check_symbols,LIBRARY,HEADER,DIR) checks LIBRARY against HEADER, leaving the exported and
# declared names in DIR; make test-dist-c runs it on the tarball's library too.
UNIFFI_SYMBOLS := ^(uniffi_bizra_|ffi_bizra_|UNIFFI_META_BIZRA_|UNIFFI_META_NAMESPACE_BIZRA$$)
define check_symbols
	mkdir -p "$(3)"
	nm -D --defined-only "$(1)" | awk '{print $$3}' | sort > "$(3)/exported.txt"
	sed -n 's/^[a-z_ ]*[ *]\(bizra_[a-z0-9_]*\)(.*/\1/p' "$(2)" | sort > "$(3)/declared.txt"
	if grep -Ev '^bizra_' "$(3)/exported.txt" | grep -Ev '$(UNIFFI_SYMBOLS)'; then echo "$(1) leaks the symbols above" >&2; exit 1; fi
	grep '^bizra_' "$(3)/exported.txt" | diff -u "$(3)/declared.txt" -
	readelf -d "$(1)" | grep -q 'SONAME.*\[libbizra.so.0\]'
	echo "symbols of $(1): $$(grep -c '^bizra_' "$(3)/exported.txt") bizra_* (all declared), $$(grep -Ec '$(UNIFFI_SYMBOLS)' "$(3)/exported.txt") UniFFI, nothing else; SONAME libbizra.so.0"
endef
symbols-c: c-lib
	$(call check_symbols,$(LIBDIR)/libbizra.so,include/bizra.h,$(CBUILD))

# Every function the header declares is called by the C suites.
C_SUITES := tests/c/test_bizra.c tests/c/test_inference.c tests/c/test_federation.c tests/c/test_consensus.c \
  tests/c/test_consensus_node.c tests/c/test_gateway.c tests/c/test_store.c
c-coverage: symbols-c
	missing=$$(for f in $$(cat "$(CBUILD)/declared.txt"); do grep -q "$$f(" $(C_SUITES) || echo $$f; done); \
	if [ -n "$$missing" ]; then echo "not covered by $(C_SUITES): $$missing" >&2; exit 1; fi

$(CBUILD)/vectors.h: tests/vectors/pci-v1-vectors.json tests/c/gen_vectors.py
	mkdir -p "$(CBUILD)"
	python3 tests/c/gen_vectors.py $< $@

$(CBUILD)/consensus_vectors.h: tests/vectors/consensus-v1-vectors.json tests/c/gen_consensus_vectors.py tests/c/gen_vectors.py
	mkdir -p "$(CBUILD)"
	python3 tests/c/gen_consensus_vectors.py $< $@

C_TEST_DEFS := -I"$(CBUILD)" -DCARGO_VERSION='"$(BIZRA_VERSION)"' -DVECTORS_DIR='"$(CURDIR)/tests/vectors"'

# The inference suite runs the real model natively and under ASan, not under valgrind (minutes
# per generation there); test_bizra.c covers the same functions' model-free paths under valgrind.
test-c: header-check c-lib symbols-c c-coverage $(CBUILD)/vectors.h $(CBUILD)/consensus_vectors.h model
	@echo "== bizra-sys's Rust tests (boundary, panics, statuses, ownership docs, README names)"
	$(CARGO) test --release -p bizra-sys
	$(CC) $(C_CFLAGS) $(C_TEST_DEFS) tests/c/test_bizra.c -o "$(CBUILD)/test_shared" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)" -lpthread -lm
	$(CC) $(C_CFLAGS) $(C_TEST_DEFS) tests/c/test_bizra.c -o "$(CBUILD)/test_static" \
	  "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS)
	$(CC) $(C_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer $(C_TEST_DEFS) \
	  tests/c/test_bizra.c -o "$(CBUILD)/test_asan" "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS)
	@echo "== C suite, shared library, under valgrind"
	$(VALGRIND) "$(CBUILD)/test_shared"
	@echo "== C suite, static library, under valgrind"
	$(VALGRIND) "$(CBUILD)/test_static"
	@echo "== C suite, static library, AddressSanitizer + UBSan"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 "$(CBUILD)/test_asan"
	@echo "== C federation suite (loopback UDP), shared library, natively and under valgrind"
	$(CC) $(C_CFLAGS) tests/c/test_federation.c -o "$(CBUILD)/test_federation" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)" -lpthread
	"$(CBUILD)/test_federation"
	$(VALGRIND) "$(CBUILD)/test_federation"
	@echo "== C federation suite, static library, AddressSanitizer + UBSan"
	$(CC) $(C_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	  tests/c/test_federation.c -o "$(CBUILD)/test_federation_asan" "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 "$(CBUILD)/test_federation_asan"
	@echo "== C consensus suite (certificates verified offline), shared library, natively and under valgrind"
	$(CC) $(C_CFLAGS) -I"$(CBUILD)" tests/c/test_consensus.c -o "$(CBUILD)/test_consensus" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)" -lpthread
	"$(CBUILD)/test_consensus"
	$(VALGRIND) "$(CBUILD)/test_consensus"
	@echo "== C consensus suite, static library, AddressSanitizer + UBSan"
	$(CC) $(C_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -I"$(CBUILD)" \
	  tests/c/test_consensus.c -o "$(CBUILD)/test_consensus_asan" "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 "$(CBUILD)/test_consensus_asan"
	@echo "== C consensus-node suite (four validators on loopback), shared library, natively and under valgrind"
	$(CC) $(C_CFLAGS) tests/c/test_consensus_node.c -o "$(CBUILD)/test_consensus_node" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)" -lpthread
	"$(CBUILD)/test_consensus_node"
	$(VALGRIND) "$(CBUILD)/test_consensus_node"
	@echo "== C consensus-node suite, static library, AddressSanitizer + UBSan"
	$(CC) $(C_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	  tests/c/test_consensus_node.c -o "$(CBUILD)/test_consensus_node_asan" "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 "$(CBUILD)/test_consensus_node_asan"
	@echo "== C inference suite (real model), shared library"
	$(CC) $(C_CFLAGS) tests/c/test_inference.c -o "$(CBUILD)/test_inference" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)" -lpthread -lm
	"$(CBUILD)/test_inference"
	@echo "== C inference suite, static library, AddressSanitizer + UBSan"
	$(CC) $(C_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	  tests/c/test_inference.c -o "$(CBUILD)/test_inference_asan" "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 "$(CBUILD)/test_inference_asan"
	@echo "== C gateway suite (the reference pool server, the real model), shared library"
	$(CC) $(C_CFLAGS) tests/c/test_gateway.c -o "$(CBUILD)/test_gateway" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)" -lpthread
	"$(CBUILD)/test_gateway"
	@echo "== C gateway suite, static library, AddressSanitizer + UBSan"
	$(CC) $(C_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	  tests/c/test_gateway.c -o "$(CBUILD)/test_gateway_asan" "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 "$(CBUILD)/test_gateway_asan"
	@echo "== C store suite (autopoiesis; the real model for text recall), shared library"
	$(CC) $(C_CFLAGS) tests/c/test_store.c -o "$(CBUILD)/test_store" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)" -lpthread -lm
	"$(CBUILD)/test_store"
	@echo "== C store suite, static library, AddressSanitizer + UBSan"
	$(CC) $(C_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	  tests/c/test_store.c -o "$(CBUILD)/test_store_asan" "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS) -lm
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1 "$(CBUILD)/test_store_asan"
	@echo "== examples/c/inference.c"
	$(CC) $(C_CFLAGS) examples/c/inference.c -o "$(CBUILD)/inference" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)"
	"$(CBUILD)/inference" "$(BIZRA_TEST_MODEL)" > "$(CBUILD)/inference.out"
	grep -q '^verify: valid' "$(CBUILD)/inference.out"
	@echo "== examples/c/federation.c"
	$(CC) $(C_CFLAGS) examples/c/federation.c -o "$(CBUILD)/federation" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)"
	$(VALGRIND) "$(CBUILD)/federation" > "$(CBUILD)/federation.out"
	grep -q '^joined ' "$(CBUILD)/federation.out"
	grep -q '^left ' "$(CBUILD)/federation.out"
	@echo "== examples/c/consensus.c"
	$(CC) $(C_CFLAGS) examples/c/consensus.c -o "$(CBUILD)/consensus" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)"
	"$(CBUILD)/consensus" > "$(CBUILD)/consensus.out"
	test "$$(grep -c '^decided height 1 .* certificate VALID$$' "$(CBUILD)/consensus.out")" = 4
	@echo "== examples/c/quickstart.c"
	$(CC) $(C_CFLAGS) examples/c/quickstart.c -o "$(CBUILD)/quickstart" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)"
	$(VALGRIND) "$(CBUILD)/quickstart" > "$(CBUILD)/quickstart.out"
	grep -q 'PCI-15' "$(CBUILD)/quickstart.out"
	@echo "== make install + pkg-config (shared and static)"
	rm -rf "$(CBUILD)/prefix"
	$(MAKE) --no-print-directory install PREFIX="$(CBUILD)/prefix" > /dev/null
	PKG_CONFIG_PATH="$(CBUILD)/prefix/lib/pkgconfig" pkg-config --modversion bizra | grep -qx '$(BIZRA_VERSION)'
	$(CC) $(C_CFLAGS) examples/c/quickstart.c -o "$(CBUILD)/quickstart_pc" \
	  $$(PKG_CONFIG_PATH="$(CBUILD)/prefix/lib/pkgconfig" pkg-config --cflags --libs bizra) \
	  -Wl,-rpath,"$(CBUILD)/prefix/lib"
	"$(CBUILD)/quickstart_pc" > /dev/null
	$(CC) $(C_CFLAGS) examples/c/quickstart.c -o "$(CBUILD)/quickstart_pc_static" \
	  $$(PKG_CONFIG_PATH="$(CBUILD)/prefix/lib/pkgconfig" pkg-config --cflags bizra) \
	  "$(CBUILD)/prefix/lib/libbizra.a" \
	  $$(PKG_CONFIG_PATH="$(CBUILD)/prefix/lib/pkgconfig" pkg-config --static --libs-only-l bizra | sed 's/-lbizra//')
	"$(CBUILD)/quickstart_pc_static" > /dev/null
	@echo "test-c: all C checks passed"

install: c-lib
	install -d "$(DESTDIR)$(PREFIX)/lib/pkgconfig" "$(DESTDIR)$(PREFIX)/include"
	install -m 0755 "$(LIBDIR)/libbizra.so" "$(DESTDIR)$(PREFIX)/lib/libbizra.so.$(BIZRA_VERSION)"
	ln -sf "libbizra.so.$(BIZRA_VERSION)" "$(DESTDIR)$(PREFIX)/lib/libbizra.so.0"
	ln -sf "libbizra.so.0" "$(DESTDIR)$(PREFIX)/lib/libbizra.so"
	install -m 0644 "$(LIBDIR)/libbizra.a" "$(DESTDIR)$(PREFIX)/lib/libbizra.a"
	install -m 0644 include/bizra.h "$(DESTDIR)$(PREFIX)/include/bizra.h"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(BIZRA_VERSION)|' bizra-sys/bizra.pc.in \
	  > "$(DESTDIR)$(PREFIX)/lib/pkgconfig/bizra.pc"
	@echo "installed libbizra $(BIZRA_VERSION) into $(DESTDIR)$(PREFIX)"

demo-c: c-lib
	mkdir -p "$(CBUILD)"
	$(CC) $(C_CFLAGS) examples/c/quickstart.c -o "$(CBUILD)/quickstart" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)"
	"$(CBUILD)/quickstart"

demo-c-inference: c-lib model
	mkdir -p "$(CBUILD)"
	$(CC) $(C_CFLAGS) examples/c/inference.c -o "$(CBUILD)/inference" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)"
	"$(CBUILD)/inference" "$(BIZRA_TEST_MODEL)"

demo-c-federation: c-lib
	mkdir -p "$(CBUILD)"
	$(CC) $(C_CFLAGS) examples/c/federation.c -o "$(CBUILD)/federation" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)"
	"$(CBUILD)/federation"

demo-c-consensus: c-lib
	mkdir -p "$(CBUILD)"
	$(CC) $(C_CFLAGS) examples/c/consensus.c -o "$(CBUILD)/consensus" \
	  -L"$(LIBDIR)" -lbizra -Wl,-rpath,"$(C_RPATH)"
	"$(CBUILD)/consensus"

bench-c: c-lib
	$(CARGO) build --release -p bizra-sys --example bench_core
	$(CC) -std=c11 -O2 -Iinclude benches/c/bench_c.c -o "$(CBUILD)/bench_c" \
	  "$(LIBDIR)/libbizra.a" $(C_STATIC_LIBS)
	python3 benches/c/compare.py "$(LIBDIR)/examples/bench_core" "$(CBUILD)/bench_c"

TESTS   += test-c
BENCHES += bench-c
DEMOS   += demo-c demo-c-inference demo-c-federation demo-c-consensus
