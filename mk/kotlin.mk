# Kotlin and Swift bindings (UniFFI 0.32, proc-macros in bizra-sys/src/uniffi/, library mode).
#
#   make bindings      regenerate bindings/kotlin (org.bizra) and bindings/swift from libbizra.so
#   make test-kotlin   drift check of both generated trees, then `mvn -q test` in bindings/kotlin:
#                      every spec vector + the behaviour tests + the inference tests with the real
#                      model ($BIZRA_TEST_MODEL, from `make model`) + two-node federation tests on
#                      loopback UDP + every commit certificate vector verified offline
#                      (CertificateTest) + consensus on four validator nodes on loopback, decisions
#                      through the Flow, refusals and evidence codes (ConsensusTest) + the
#                      examples, on libbizra.so via JNA
#   make demo-kotlin   compile and run examples/kotlin/Quickstart.kt, Inference.kt, Federation.kt
#                      and Consensus.kt (through their JUnit wrapper)
#
# Maven keeps its artifacts in $(BIZRA_CACHE)/m2: fetched once, offline afterwards.
# There is no Swift toolchain here: bindings/swift is generated and drift-checked, not compiled.

UNIFFI_BINDGEN := $(LIBDIR)/uniffi-bindgen
UNIFFI_CONFIG  := bindings/kotlin/uniffi.toml
UNIFFI_GEN     := $(TARGET_DIR)/uniffi-gen
KOTLIN_SRC     := bindings/kotlin/src/main/kotlin/org/bizra
SWIFT_SRC      := bindings/swift/Sources
# The Kotlin compiler runs in its daemon (a JVM that outlives mvn); its JIT stops at C1. A compile
# here is a few runs of one JVM over the 16K generated lines, where C2's compiler threads cost more
# than they win back on 2 cores: a cold compile of main and tests took 19 s with C1 against 30 s.
MVN            := mvn -B -ntp -Dstyle.color=never -Dmaven.repo.local=$(BIZRA_CACHE)/m2 -Dbizra.libdir=$(LIBDIR) \
                  -Dkotlin.daemon.jvm.options=-XX:TieredStopAtLevel=1

.PHONY: kotlin-lib uniffi-bindgen bindings bindings-check test-kotlin demo-kotlin

# The same package selection as the C ABI's build (no feature split, nothing built twice).
kotlin-lib: llama-deps
	$(CARGO) build --release -p bizra-sys

# A separate crate (not a default member) so the bindgen's CLI dependencies stay out of libbizra.
uniffi-bindgen:
	$(CARGO) build --release -p uniffi-bindgen

# Generates both languages from the built library into $(1).
define uniffi_generate
	rm -rf "$(1)" && mkdir -p "$(1)/kotlin" "$(1)/swift"
	"$(UNIFFI_BINDGEN)" generate --library "$(LIBDIR)/libbizra.so" --config "$(UNIFFI_CONFIG)" \
	  --language kotlin --no-format --out-dir "$(1)/kotlin"
	"$(UNIFFI_BINDGEN)" generate --library "$(LIBDIR)/libbizra.so" --config "$(UNIFFI_CONFIG)" \
	  --language swift --no-format --out-dir "$(1)/swift"
endef

bindings: kotlin-lib uniffi-bindgen
	mkdir -p "$(KOTLIN_SRC)" "$(SWIFT_SRC)/Bizra" "$(SWIFT_SRC)/bizraFFI"
	$(call uniffi_generate,$(UNIFFI_GEN)/new)
	cp "$(UNIFFI_GEN)/new/kotlin/org/bizra/bizra.kt" "$(KOTLIN_SRC)/bizra.kt"
	cp "$(UNIFFI_GEN)/new/swift/Bizra.swift" "$(SWIFT_SRC)/Bizra/Bizra.swift"
	cp "$(UNIFFI_GEN)/new/swift/bizraFFI.h" "$(SWIFT_SRC)/bizraFFI/bizraFFI.h"
	echo "bindings: regenerated $(KOTLIN_SRC)/bizra.kt and $(SWIFT_SRC)/{Bizra/Bizra.swift,bizraFFI/bizraFFI.h}"

# The committed sources must be what the pinned bindgen generates from the current library.
bindings-check: kotlin-lib uniffi-bindgen
	$(call uniffi_generate,$(UNIFFI_GEN)/check)
	diff -u "$(KOTLIN_SRC)/bizra.kt" "$(UNIFFI_GEN)/check/kotlin/org/bizra/bizra.kt" \
	  || { echo "bindings/kotlin is stale: run make bindings and commit it" >&2; exit 1; }
	diff -u "$(SWIFT_SRC)/Bizra/Bizra.swift" "$(UNIFFI_GEN)/check/swift/Bizra.swift" \
	  || { echo "bindings/swift is stale: run make bindings and commit it" >&2; exit 1; }
	diff -u "$(SWIFT_SRC)/bizraFFI/bizraFFI.h" "$(UNIFFI_GEN)/check/swift/bizraFFI.h" \
	  || { echo "bindings/swift is stale: run make bindings and commit it" >&2; exit 1; }
	echo "bindings: Kotlin and Swift sources match libbizra.so (no Swift toolchain here: not compiled)"

# The inference tests and example read the model at $BIZRA_TEST_MODEL (mk/inference.mk exports it).
test-kotlin: bindings-check model
	cd bindings/kotlin && $(MVN) -q test

demo-kotlin: kotlin-lib model
	cd bindings/kotlin && $(MVN) -q test -Dtest=ExampleTest -Dsurefire.failIfNoSpecifiedTests=false

TESTS += test-kotlin
DEMOS += demo-kotlin
