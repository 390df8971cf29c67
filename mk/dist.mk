# Artifacts that install without a Rust toolchain, cmake or libclang (`make dist`, into dist/), and
# the tests that install each into a fresh environment whose PATH has no cargo, rustc or cmake.
#
#   make dist               every part's artifacts ($(DISTS)), then dist/SHA256SUMS over every
#                           file in dist/ and each file's size
#   make dist-c             dist/libbizra-<version>-linux-x86_64.tar.gz: libbizra.so (SONAME
#                           libbizra.so.0), libbizra.a, bizra.h, a relocatable bizra.pc, licenses/
#   make dist-kotlin        dist/bizra-<version>.jar (the Kotlin binding with libbizra.so under
#                           JNA's linux-x86-64/) and dist/maven, a Maven repository holding it
#                           with its POM as org.bizra:bizra:<version>
#   make package-rust       `cargo package` of the crates that publish (see below)
#   make test-dist-c        the tarball extracted, the quickstart and inference examples built
#                           with pkg-config, shared and static, and run; its library's symbols
#   make test-dist-kotlin   a fresh Maven project that only declares the dependency runs the
#                           quickstart and one real-model generation, without jna.library.path
#   make test-dist-rust     package-rust, then a fresh Cargo project on `bizra` without default
#                           features signs and verifies an envelope, with no cmake on PATH
#
# Every artifact carries $(BIZRA_VERSION), the workspace version (mk/c.mk reads it from
# Cargo.toml once; the Kotlin POM must say the same, dist-kotlin checks it). Other parts add their
# artifact targets to DISTS (mk/python.mk, mk/node.mk).

DIST        := $(CURDIR)/dist
# Where the artifacts are staged and the install tests run.
DIST_BUILD  := $(TARGET_DIR)/artifacts
DIST_C       = $(DIST)/libbizra-$(BIZRA_VERSION)-linux-x86_64.tar.gz
DIST_JAR     = $(DIST)/bizra-$(BIZRA_VERSION).jar
# Installed like cbindgen, into the tools cache, at a pinned version.
CARGO_ABOUT_VERSION := 0.9.3
CARGO_ABOUT := $(BIZRA_CACHE)/tools/bin/cargo-about

.PHONY: dist dist-lib dist-c dist-kotlin package-rust test-dist-c test-dist-kotlin test-dist-rust

DISTS += dist-c dist-kotlin

# DISTS is complete only once every mk/*.mk has been read (node and python come after this file):
# the second expansion reads it when `dist` runs, not here.
.SECONDEXPANSION:
dist: $$(DISTS)
	cd "$(DIST)" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort \
	  | xargs -d '\n' sha256sum > SHA256SUMS
	@echo "dist/ (version $(BIZRA_VERSION)); checksums in dist/SHA256SUMS:"
	@cd "$(DIST)" && find . -type f -printf '%s\t%P\n' | LC_ALL=C sort -k2 \
	  | numfmt --to=iec-i --round=nearest --suffix=B --format='%9.1f' --field=1

$(CARGO_ABOUT):
	$(CARGO) install cargo-about --version $(CARGO_ABOUT_VERSION) --features cli --locked --root "$(BIZRA_CACHE)/tools"

# The shared library as shipped: the exported (dynamic) symbols stay, the full symbol table goes.
# The release build, as every part's (scripts/dist-python.sh says why not a profile with LTO).
dist-lib: c-lib
	mkdir -p "$(DIST_BUILD)/lib"
	strip --strip-unneeded -o "$(DIST_BUILD)/lib/libbizra.so" "$(LIBDIR)/libbizra.so"

# The license texts of the Rust crates linked in: minutes of license matching, so kept under a
# key of what decides the dependency graph (by content: a fresh clone's new mtimes change nothing).
RUST_LICENSES := $(DIST_BUILD)/rust-crates-$(shell cat Cargo.lock Cargo.toml bizra-sys/Cargo.toml \
  crates/*/Cargo.toml scripts/dist-licenses.sh | sha256sum | cut -c1-16).txt
$(RUST_LICENSES): | $(CARGO_ABOUT)
	mkdir -p "$(@D)"
	rm -f "$(DIST_BUILD)"/rust-crates-*.txt
	scripts/dist-licenses.sh "$(CARGO_ABOUT)" "$@.tmp"
	mv "$@.tmp" "$@"

dist-c: dist-lib $(RUST_LICENSES)
	scripts/dist-c.sh "$(BIZRA_VERSION)" "$(DIST_BUILD)/lib/libbizra.so" "$(LIBDIR)/libbizra.a" \
	  "$(RUST_LICENSES)" "$(DIST)"

# The jar is built from the committed (drift-checked) sources; `mvn deploy:deploy-file` lays out
# dist/maven as a remote repository (POM, jar, checksums, metadata) at a file:// URL.
KOTLIN_POM_VERSION = $(shell sed -n '/<artifactId>bizra<\/artifactId>/{n;s/.*<version>\(.*\)<\/version>.*/\1/p;q}' bindings/kotlin/pom.xml)
dist-kotlin: dist-lib bindings-check
	@test "$(KOTLIN_POM_VERSION)" = "$(BIZRA_VERSION)" || { echo "bindings/kotlin/pom.xml says version $(KOTLIN_POM_VERSION), Cargo.toml $(BIZRA_VERSION)" >&2; exit 1; }
	cd bindings/kotlin && $(MVN) -q -Pdist package -Dmaven.test.skip=true -Dbizra.distlib="$(DIST_BUILD)/lib"
	rm -rf "$(DIST)/maven/org/bizra/bizra"
	cd bindings/kotlin && $(MVN) -q org.apache.maven.plugins:maven-deploy-plugin:3.1.4:deploy-file \
	  -Dfile=target/dist/bizra-$(BIZRA_VERSION).jar -DpomFile=pom.xml \
	  -Durl="file://$(DIST)/maven" -DrepositoryId=dist
	cp "bindings/kotlin/target/dist/bizra-$(BIZRA_VERSION).jar" "$(DIST_JAR)"
	@echo "dist-kotlin: $(DIST_JAR) and $(DIST)/maven (org.bizra:bizra:$(BIZRA_VERSION))"

# The crates that publish: the facade and every crate behind it. bizra-server and bizra-cli are
# not published (publish = false); nor is bizra-sys: rustls-ffi publishes its C ABI crate so that
# other crates wrapping a C API (curl's) can depend on it, but bizra-sys builds no rlib (its
# library is named `bizra`, as the facade's is), so no crate could; C users take the tarball, or
# build from this repository (make install).
# `cargo package` verifies a crate by building its packaged sources in the dev profile, apart from
# the release build: for bizra-inference, bizra-autopoiesis and bizra (default features) that is a
# second cold llama.cpp build (see the README), so those are packaged without it. The others are
# verified (bizra-protocol's constitution-v1.json is a link to tests/vectors, packaged as the file).
RUST_CRATES := bizra-simd bizra-protocol bizra-federation bizra-consensus bizra-runtime \
  bizra-inference bizra-autopoiesis bizra
RUST_CRATES_VERIFIED := bizra-simd bizra-protocol bizra-federation bizra-consensus bizra-runtime
# Cargo takes a registry's sources as immutable, and verification builds each crate against the
# others packaged as a local registry at the same version (0.1.0 on every commit): a dependency
# compiled by an earlier run would be reused however its source changed since. The verification
# builds therefore get a directory of their own whose bizra crates are always rebuilt (seconds);
# the third-party crates there stay compiled. Cargo also unpacks that local registry into
# $CARGO_HOME/registry/src/-<hash of its path>/ once and reuses the unpacked sources in every later
# run: a crate would be verified against its dependencies as the first run packaged them (it
# failed only once an API between the crates changed). Those unpacked bizra crates are removed.
PACKAGE_VERIFY_DIR := $(TARGET_DIR)/package-verify
package-rust:
	$(CARGO) package --allow-dirty --no-verify $(addprefix -p ,$(RUST_CRATES))
	rm -rf "$(PACKAGE_VERIFY_DIR)"/debug/.fingerprint/bizra-* "$(PACKAGE_VERIFY_DIR)"/debug/deps/libbizra_*
	rm -rf "$${CARGO_HOME:-$$HOME/.cargo}"/registry/src/-*/bizra-*
	CARGO_TARGET_DIR="$(PACKAGE_VERIFY_DIR)" $(CARGO) package --allow-dirty $(addprefix -p ,$(RUST_CRATES_VERIFIED))

test-dist-rust: package-rust
	scripts/test-dist-rust.sh "$(DIST_BUILD)/test-rust"

test-dist-c: dist-c model
	scripts/test-dist-c.sh "$(DIST_C)" "$(INFERENCE_MODEL)" "$(DIST_BUILD)/test-c"
	$(call check_symbols,$(DIST_BUILD)/test-c/libbizra-$(BIZRA_VERSION)-linux-x86_64/lib/libbizra.so,$(DIST_BUILD)/test-c/libbizra-$(BIZRA_VERSION)-linux-x86_64/include/bizra.h,$(DIST_BUILD)/test-c)

test-dist-kotlin: dist-kotlin model
	scripts/test-dist-kotlin.sh "$(BIZRA_VERSION)" "$(DIST)/maven" "$(BIZRA_CACHE)/m2" \
	  "$(INFERENCE_MODEL)" "$(DIST_BUILD)/test-kotlin"

TESTS += test-dist-c test-dist-kotlin test-dist-rust
