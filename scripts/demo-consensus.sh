#!/usr/bin/env bash
# `make demo-consensus`: four validator processes (bizra-node --document) on loopback decide a
# proposal; the commit certificate is printed and verified in a fresh Python process that never ran
# a node; one validator is killed (SIGKILL) and the other three, still a quorum, decide the next.
set -euo pipefail
bin="$1"
py="$2"
dir=$(mktemp -d)
pids=()
cleanup() {
  for n in 1 2 3 4; do eval "[ -n \"\${fd$n:-}\" ] && exec {fd$n}>&-" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# Four validator keys, the federation document naming them, and two proposals by an author.
"$py" - "$dir" <<'PY'
import json, sys
import bizra
d = sys.argv[1]
keys = [bizra.Identity.generate() for _ in range(4)]
for n, key in enumerate(keys, 1):
    key.save(f"{d}/key{n}.pem")
document = bizra.FederationDocument.from_json(json.dumps({
    "federation": "demo-consensus", "epoch": 1,
    "validators": [{"key": k.public_key_hex, "power": 1} for k in keys],
    "timeouts_ms": {"propose": 1000, "prevote": 500, "precommit": 500, "delta": 250,
                    "rebroadcast": 1000},
}))
open(f"{d}/document.json", "w").write(document.to_json())
author = bizra.Identity.generate()
for n, text in enumerate(["adopt the spring schedule", "publish the audit"], 1):
    proposal = bizra.Envelope.create(author, {"type": "bizra.proposal", "text": text}, ttl=600,
                                     scores={"snr": 0.92, "ihsan": 0.97})
    open(f"{d}/proposal{n}.json", "w").write(proposal.to_json())
print(f"federation demo-consensus: 4 validators, document hash {document.hash[:16]}...")
PY

wait_for() { # wait_for N REGEX: until node N prints a matching line
  for _ in $(seq 200); do grep -q "$2" "$dir/out$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "node $1 never printed /$2/"; exit 1
}

start() { # start N [seed]
  mkfifo "$dir/in$1"
  local args=(--bind 127.0.0.1:0 --fast --key "$dir/key$1.pem" --data-dir "$dir/data$1"
              --document "$dir/document.json")
  [ -n "${2:-}" ] && args+=(--seed "$2")
  "$bin" "${args[@]}" < "$dir/in$1" > "$dir/out$1" &
  pids+=($!)
  disown
  eval "exec {fd$1}>\"$dir/in$1\""
  wait_for "$1" '^ready'
  read -r _ id addr _ < <(grep '^ready' "$dir/out$1")
  echo "validator $1: ${id:0:8} on $addr (UDP membership, TCP consensus links)"
  eval "addr$1=$addr"
}

start 1
for n in 2 3 4; do start "$n" "$addr1"; done
# Until every validator has a consensus link to the other three (`status ... <linked>`).
for n in 1 2 3 4; do
  for _ in $(seq 100); do
    eval "echo status >&\"\$fd$n\""
    sleep 0.05
    [ "$(grep '^status' "$dir/out$n" | tail -1 | cut -d' ' -f6)" = 3 ] && break
  done
done

echo
echo "validator 2 is handed a proposal: $(sed 's/.*"text":"\([^"]*\)".*/\1/' "$dir/proposal1.json")"
start_ms=$(date +%s%3N)
echo "propose $(cat "$dir/proposal1.json")" >&"$fd2"
for n in 1 2 3 4; do
  wait_for "$n" '^decided 1 '
  read -r _ h round value count < <(grep '^decided 1 ' "$dir/out$n")
  echo "  validator $n decided height $h (round $round): value ${value:0:16}..., $count proposal(s)"
done
echo "  decided everywhere $(( $(date +%s%3N) - start_ms )) ms after the proposal"

echo
echo "validator 3's commit certificate for height 1:"
echo "certificate 1" >&"$fd3"
wait_for 3 '^{'
grep '^{' "$dir/out3" | head -1 > "$dir/certificate.json"
"$py" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), indent=2))' \
  "$dir/certificate.json" | sed 's/^/  /'

echo
echo "verified offline, in a fresh Python process that holds only the document:"
"$py" examples/python/certificate.py "$dir/document.json" "$dir/certificate.json" | sed 's/^/  /'

echo
echo "kill -9 validator 4; validator 1 is handed the next proposal"
kill -9 "${pids[3]}"
echo "propose $(cat "$dir/proposal2.json")" >&"$fd1"
for n in 1 2 3; do
  wait_for "$n" '^decided 2 '
  read -r _ h round value count < <(grep '^decided 2 ' "$dir/out$n")
  echo "  validator $n decided height $h (round $round) with 3 of 4 validators: ${value:0:16}..."
done
grep -q '^evidence' "$dir"/out* && { echo "equivocation reported"; exit 1; }
echo "no validator equivocated"
