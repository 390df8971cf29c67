#!/usr/bin/env bash
# `make demo-federation`: four bizra-node processes federate on loopback; the membership converges;
# one is killed (SIGKILL) and the others detect it and declare it down; the rest leave gracefully.
set -euo pipefail
bin="$1"
dir=$(mktemp -d)
pids=()
cleanup() {
  # End of input: the remaining nodes leave gracefully; anything left after that is killed.
  for n in 1 2 3 4; do eval "[ -n \"\${fd$n:-}\" ] && exec {fd$n}>&-" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

start() { # start N [seed]
  mkfifo "$dir/in$1"
  local args=(--bind 127.0.0.1:0 --federation demo --fast)
  [ -n "${2:-}" ] && args+=(--seed "$2")
  "$bin" "${args[@]}" < "$dir/in$1" > "$dir/out$1" &
  pids+=($!)
  disown
  eval "exec {fd$1}>\"$dir/in$1\""
  for _ in $(seq 100); do grep -q '^ready' "$dir/out$1" 2>/dev/null && break; sleep 0.05; done
  read -r _ id addr gen < <(grep '^ready' "$dir/out$1")
  echo "node $1: ${id:0:8} on $addr (generation $gen)"
  eval "addr$1=$addr id$1=$id"
}

start 1
for n in 2 3 4; do start "$n" "$addr1"; done
sleep 1.5
echo
echo "node 1 sees:"
echo members >&"$fd1"
sleep 0.3
sed -n '/^member/p' "$dir/out1" | while read -r _ id state addr; do echo "  ${id:0:8} $state $addr"; done

echo
echo "kill -9 node 3 (${id3:0:8})"
kill -9 "${pids[2]}"
start_ms=$(date +%s%3N)
for n in 1 2 4; do
  for _ in $(seq 100); do grep -q "^event down $id3" "$dir/out$n" && break; sleep 0.05; done
  if grep -q "^event down $id3" "$dir/out$n"; then
    echo "  node $n: ${id3:0:8} declared down ($(( $(date +%s%3N) - start_ms )) ms after the kill)"
  else
    echo "  node $n: ${id3:0:8} NOT declared down"; exit 1
  fi
done

echo
echo "node 4 leaves"
echo leave >&"$fd4"
for n in 1 2; do
  for _ in $(seq 100); do grep -q "^event left $id4" "$dir/out$n" && break; sleep 0.05; done
  grep -q "^event left $id4" "$dir/out$n" && echo "  node $n: ${id4:0:8} left" || { echo "  node $n: no leave seen"; exit 1; }
done
echo
echo "node 1's events:"
sed -n '/^event/p' "$dir/out1" | while read -r _ kind id state addr gen; do echo "  $kind ${id:0:8} $addr"; done
