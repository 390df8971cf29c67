#!/usr/bin/env bash
# `make demo-cli`: a node's first minutes with the `bizra` program, on a temporary data directory:
# init, identity show, one signed answer from the model, and that envelope verified (then a
# tampered copy refused with its reject code).
#
#   cli/demo.sh path/to/bizra path/to/model.gguf
set -euo pipefail
bin=$1
model=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BIZRA_HOME="$work/node" BIZRA_PASSPHRASE="demo passphrase"
run() {
  printf '\n$ bizra'
  printf ' %q' "$@"
  printf '\n'
  "$bin" "$@"
}

run init --model "$model"
run identity show
run inference --greedy --max-tokens 32 --system "You are a concise assistant." \
  --vouch correctness=1 --vouch safety=1 --vouch user_benefit=1 --vouch adl_fairness=1 \
  --out "$work/answer.json" "What is the capital of France? Answer in one word."
# The whole chain judges the measured scores too; a refusal there (exit 1) is a verdict, shown.
run pci verify "$work/answer.json" || [ $? -eq 1 ]
# Authenticity alone must hold.
run pci verify --gates schema,signature,freshness,policy "$work/answer.json"
printf '\n$ bizra pci verify < tampered copy (the output replaced)\n'
python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
e["payload"]["output"] = "Berlin."
print(json.dumps(e))' "$work/answer.json" > "$work/tampered.json"
if "$bin" pci verify < "$work/tampered.json"; then
  echo "demo-cli: the tampered envelope was admitted" >&2
  exit 1
else
  status=$?
  [ "$status" -eq 1 ] || { echo "demo-cli: expected exit 1, got $status" >&2; exit 1; }
  echo "(exit $status)"
fi
