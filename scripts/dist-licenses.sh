#!/usr/bin/env bash
# Usage: dist-licenses.sh CARGO_ABOUT OUT
#
# Writes OUT: every Rust crate linked into libbizra (bizra-sys's normal dependencies for
# x86_64-unknown-linux-gnu with its default features; build scripts, proc-macros and dev-only
# crates are not linked), grouped by the license it is used under, with that license's text.
# cargo-about takes the text from the crate's own license files, or from the SPDX list where a
# crate ships none (offline: no lookups, the same output every time). It fails on a crate whose license is not accepted below, or unknown.
set -euo pipefail

about=${1:?usage: dist-licenses.sh CARGO_ABOUT OUT}
out=${2:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Where an expression offers a choice, the first accepted license in this order is the one used.
cat > "$work/about.toml" <<'EOF'
accepted = [
    "Apache-2.0",
    "MIT",
    "Apache-2.0 WITH LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "MPL-2.0",
    "BSL-1.0",
    "CDLA-Permissive-2.0",
    "0BSD",
    "MIT-0",
    "CC0-1.0",
    "Unlicense",
]
targets = ["x86_64-unknown-linux-gnu"]
ignore-build-dependencies = true
ignore-dev-dependencies = true
EOF

cat > "$work/about.hbs" <<'EOF'
Rust crates linked into libbizra, by the license each is used under
====================================================================

{{#each overview}}{{{name}}}: {{count}} crate(s)
{{/each}}
{{#each licenses}}

--------------------------------------------------------------------------------
{{{name}}} ({{id}}), used by:
{{#each used_by}}  {{crate.name}} {{crate.version}}
{{/each}}
--------------------------------------------------------------------------------

{{{text}}}
{{/each}}
EOF

"$about" about generate --fail --offline --locked --config "$work/about.toml" --manifest-path bizra-sys/Cargo.toml \
  --output-file "$out" "$work/about.hbs"
