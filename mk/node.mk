# Node binding (bindings/node, npm package `bizra`): build the addon, check the generated
# index.d.ts for drift, `npm pack`, install the tarball into a fresh temp project and run the
# node:test suite against the installed package (the inference tests with the real model); run the
# examples from it; type-check the TypeScript example; bench.

NODE_DIR      := bindings/node
# The platform this machine builds the addon for, in napi-rs's naming (the .node file's suffix and
# the platform package's name).
NODE_PLATFORM := linux-x64-gnu
NODE_ADDON    := $(NODE_DIR)/bizra.$(NODE_PLATFORM).node
NODE_WORK     := $(TARGET_DIR)/node-work
NODE_TYPES    := $(TARGET_DIR)/napi-rs/bizra-node-types
NPM           := npm --cache $(BIZRA_CACHE)/npm --no-audit --no-fund --loglevel=error

.PHONY: node-deps node-build node-build-test test-node bench-node demo-node demo-node-inference \
        demo-node-federation demo-node-consensus demo-node-certificate

# npm packages of the build, the TypeScript check and the bench (pinned by package-lock.json);
# reinstalled only when the lock file changes.
node-deps: $(NODE_DIR)/node_modules/.bizra-stamp
$(NODE_DIR)/node_modules/.bizra-stamp: $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	cd $(NODE_DIR) && $(NPM) ci --prefer-offline
	touch $@

# The addon links the core, llama.cpp included. cargo builds it as the workspace builds everything
# (release profile, target directory, no `--target`), so it links the llama.cpp that
# `cargo build --release` compiled: `napi build` always passes `--target`, which gives every crate,
# llama.cpp too, a second target tree and a second compile. What `napi build` adds is done here:
# napi-derive writes each export's type into NAPI_TYPE_DEF_TMP_FOLDER as the crate compiles
# (NAPI_FORCE_BUILD_BIZRA_NODE, tracked by napi-build, forces that compile: this crate alone), and
# the napi CLI's generateTypeDef turns them into index.d.ts after dts-header.d.ts.
# `node-build-test` adds the `test-hooks` feature (deliberate panics and sample errors of every kind
# for the suite's boundary checks), which the published addon does not have.
define node-build-with
	rm -rf "$(NODE_TYPES)" && mkdir -p "$(NODE_TYPES)"
	NAPI_TYPE_DEF_TMP_FOLDER="$(NODE_TYPES)" NAPI_FORCE_BUILD_BIZRA_NODE="$$(date +%s%N)" \
	  $(CARGO) build --release -p bizra-node --lib $(1)
	cp "$(LIBDIR)/libbizra_node.so" "$(NODE_ADDON)"
	cd $(NODE_DIR) && node --input-type=module -e ' \
	  import { generateTypeDef } from "@napi-rs/cli"; import { readFileSync, writeFileSync } from "node:fs"; \
	  const header = readFileSync("dts-header.d.ts", "utf8").trimEnd(); \
	  const { dts } = await generateTypeDef({ typeDefDir: process.argv[1], dtsHeader: header, cwd: "." }); \
	  if (!dts.includes("export declare class")) throw new Error(`no type definitions in $${process.argv[1]}`); \
	  writeFileSync("index.d.ts", dts)' "$(NODE_TYPES)"
	@if git -C $(NODE_DIR) rev-parse --git-dir >/dev/null 2>&1 && \
	    ! git diff --quiet HEAD -- $(NODE_DIR)/index.d.ts; then \
	  git --no-pager diff HEAD -- $(NODE_DIR)/index.d.ts | head -40; \
	  echo "index.d.ts drifted from src/*.rs: commit the regenerated bindings/node/index.d.ts"; exit 1; \
	fi
endef

node-build: node-deps llama-deps
	$(call node-build-with,)

node-build-test: node-deps llama-deps
	$(call node-build-with,--features test-hooks)

test-node: node-build-test model
	rm -rf $(NODE_WORK)/app $(NODE_WORK)/pack && mkdir -p $(NODE_WORK)/app $(NODE_WORK)/pack
	cd $(NODE_DIR) && $(NPM) pack --pack-destination $(NODE_WORK)/pack >/dev/null
	cd $(NODE_WORK)/app && echo '{"name":"bizra-node-check","private":true}' > package.json \
	  && $(NPM) install --offline ../pack/bizra-*.tgz
	cp -r $(NODE_DIR)/test $(NODE_WORK)/app/test
	cd $(NODE_WORK)/app && node -e 'require("bizra").Identity.generate()' \
	  && node --input-type=module -e 'import { Identity } from "bizra"; Identity.generate()'
	cd $(NODE_WORK)/app && BIZRA_VECTORS=$(CURDIR)/tests/vectors BIZRA_README=$(CURDIR)/README.md RUST_BACKTRACE=0 node --test --test-reporter=spec test/*.test.mjs
	cd $(NODE_WORK)/app && rm -rf node_modules/.bin && cp -r $(CURDIR)/examples/node examples \
	  && node examples/quickstart.mjs >/dev/null \
	  && node examples/inference.mjs "$(INFERENCE_MODEL)" >/dev/null \
	  && node examples/federation.mjs >/dev/null \
	  && BIZRA_VECTORS=$(CURDIR)/tests/vectors node examples/certificate.mjs >/dev/null \
	  && node examples/consensus.mjs >/dev/null \
	  && $(CURDIR)/$(NODE_DIR)/node_modules/.bin/tsc --noEmit --strict --target es2022 \
	     --module nodenext --moduleResolution nodenext --skipLibCheck false \
	     --types node --typeRoots $(CURDIR)/$(NODE_DIR)/node_modules/@types examples/example.ts
	@echo "test-node: package installed from its tarball, suites and TypeScript check passed"

bench-node: node-build
	$(CARGO) build --release --quiet -p bizra-node --bin bizra-node-bench
	cd $(NODE_DIR) && BIZRA_RUST_BENCH=$(LIBDIR)/bizra-node-bench node bench/bench.mjs

# Runs examples/node/$(1) with arguments $(2) against the freshly built package, linked into a
# scratch project of its own (so that demos may run in parallel).
define node-demo
	rm -rf $(NODE_WORK)/demo-$(1) && mkdir -p $(NODE_WORK)/demo-$(1)/node_modules
	ln -s $(CURDIR)/$(NODE_DIR) $(NODE_WORK)/demo-$(1)/node_modules/bizra
	cp examples/node/$(1) $(NODE_WORK)/demo-$(1)/
	cd $(NODE_WORK)/demo-$(1) && node $(1) $(2)
endef

demo-node: node-build
	cd $(NODE_DIR) && node -e 'const h = Object.keys(require("./index.js")).filter((k) => k.startsWith("__")); if (h.length) { console.error(`the default build ships test hooks: $${h}`); process.exit(1) }'
	$(call node-demo,quickstart.mjs)

# A streamed, signed answer from the test model, the gate chain's verdict, embeddings.
demo-node-inference: node-build model
	$(call node-demo,inference.mjs,"$(INFERENCE_MODEL)")

# Four members on loopback UDP join through a seed; one leaves, one stops and is declared down.
demo-node-federation: node-build
	$(call node-demo,federation.mjs)

# Four validators on loopback decide two proposals; each decision's certificate verified offline.
demo-node-consensus: node-build
	$(call node-demo,consensus.mjs)

# A commit certificate verified offline against its federation document, and a forged one refused.
demo-node-certificate: export BIZRA_VECTORS := $(CURDIR)/tests/vectors
demo-node-certificate: node-build
	$(call node-demo,certificate.mjs)

TESTS   += test-node
BENCHES += bench-node
DEMOS   += demo-node demo-node-inference demo-node-federation demo-node-consensus demo-node-certificate

# Artifacts (mk/dist.mk): the `bizra` package and the platform package holding the addon
# (scripts/dist-node.sh), packed into dist/. test-dist-node installs both tarballs into a fresh npm
# project with no compiler, cargo or cmake on PATH and runs the quickstart and one real-model
# generation from it.
.PHONY: dist-node test-dist-node

dist-node: node-build
	NPM="$(NPM)" scripts/dist-node.sh "$(BIZRA_VERSION)" "$(NODE_ADDON)" "$(DIST)" "$(DIST_BUILD)/node"

test-dist-node: dist-node model
	scripts/test-dist-node.sh "$(BIZRA_VERSION)" "$(DIST)" "$(INFERENCE_MODEL)" "$(DIST_BUILD)/test-node"

DISTS += dist-node
TESTS += test-dist-node
