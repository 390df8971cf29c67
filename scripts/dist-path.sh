#!/usr/bin/env bash
# Usage: dist-path.sh DIR [TOOL...]
#
# Fills DIR with links to the system's commands (/usr/local/bin, /usr/bin, /bin) minus Rust's,
# cmake and every C/C++ compiler, then links back the TOOLs named (for example `cc` for the C
# tarball's test; cargo, rustc and cc for the verify-only Rust build), and prints DIR. The
# artifact tests run with PATH=DIR: what a user without a Rust toolchain has; ~/.cargo/bin is
# never on it. cargo, rustc and cmake are checked to be absent unless named.
set -euo pipefail

dir=${1:?usage: dist-path.sh DIR [TOOL...]}
shift
withheld='^(cargo|cargo-.*|rustc|rustdoc|rustup|rust-.*|cmake|ctest|cpack|cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+|tcc|c89|c99|c89-gcc|c99-gcc)(-[0-9.]+)?$|^x86_64-linux-gnu-(gcc|g\+\+|cpp|c\+\+)(-[0-9.]+)?$'

rm -rf "$dir"
mkdir -p "$dir"
declare -A commands=()
for sys in /bin /usr/bin /usr/local/bin; do
  for cmd in "$sys"/*; do
    name=${cmd##*/}
    if [ -x "$cmd" ] && ! [[ $name =~ $withheld ]]; then
      commands[$name]=$cmd  # a later directory wins, as on a PATH that lists it first
    fi
  done
done
ln -s -t "$dir" "${commands[@]}"
for tool in "$@"; do
  path=$(command -v "$tool") || { echo "dist-path.sh: $tool is not installed" >&2; exit 1; }
  ln -sf "$path" "$dir/$tool"
done
for absent in cargo rustc cmake; do
  if [[ " $* " != *" $absent "* ]] && PATH=$dir command -v "$absent" >/dev/null; then
    echo "dist-path.sh: $absent is still on the test PATH" >&2
    exit 1
  fi
done
echo "$dir"
