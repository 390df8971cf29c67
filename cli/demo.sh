#!/usr/bin/env bash
# `make demo-cli`: a node's first minutes with the `bizra` program, on a temporary data directory:
# init, identity show, one signed answer from the model, and that envelope verified (then a
# tampered copy refused with its reject code); then `bizra serve`, and one request from the
# official `openai` Python client to its OpenAI-compatible endpoint, the answer streamed and its
# signed envelope (`bizra_envelope`) verified with bizra's Python binding.
#
#   cli/demo.sh path/to/bizra path/to/model.gguf [python]
#
# python: an interpreter with the `openai` and `bizra` packages (`make demo-cli` passes the
# venv of mk/server.mk's client tests); without it the demo stops before `serve`.
set -euo pipefail
bin=$1
model=$2
python=${3:-}
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
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

[ -n "$python" ] || exit 0

# The node serves its API; the `openai` client asks it one question.
printf '\n$ bizra --json serve --bind 127.0.0.1:0 &\n'
mkfifo "$work/serve.out"
"$bin" --json serve --bind 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
server=$!
exec 3< "$work/serve.out"
url=
while IFS= read -r -t 120 line <&3; do
  echo "$line"
  url=$("$python" -c 'import json, sys
e = json.loads(sys.argv[1])
print(e["url"] if e.get("event") == "listening" else "")' "$line" 2>/dev/null || true)
  [ -z "$url" ] || break
done
[ -n "$url" ] || { echo "demo-cli: bizra serve did not start" >&2; cat "$work/serve.err" >&2; exit 1; }

printf '\n$ python  # the openai package, streaming from %s/v1; bizra verifies the envelope\n' "$url"
BIZRA_URL="$url" BIZRA_TOKEN_FILE="$BIZRA_HOME/api.token" "$python" - <<'PY'
import json, os, sys

import bizra
import openai

client = openai.OpenAI(
    base_url=os.environ["BIZRA_URL"] + "/v1",
    api_key=open(os.environ["BIZRA_TOKEN_FILE"]).readline().strip(),
)
question = "What is the capital of France? Answer in one word."
print(f"user: {question}\nassistant: ", end="", flush=True)
pieces, envelope = [], None
with client.chat.completions.create(
    model="bizra",
    messages=[{"role": "user", "content": question}],
    max_tokens=32,
    temperature=0,
    stream=True,
) as stream:
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
                print(choice.delta.content, end="", flush=True)
        envelope = (chunk.model_extra or {}).get("bizra_envelope", envelope)
print()
if envelope is None:
    sys.exit("demo-cli: the stream carried no bizra_envelope")
# Parse and verify (signature, content hash, freshness, ...), then the authenticity gates.
env = bizra.Envelope.open(json.dumps(envelope), policy=bizra.Constitution.default())
chain = bizra.GateChain.empty()
for gate in ("schema", "signature", "freshness", "policy"):
    chain.add_builtin(gate)
report = chain.check(env)
text = "".join(pieces)
if not report.passed or env.payload["output"] != text:
    sys.exit(f"demo-cli: the envelope does not vouch for the answer: {report}")
print(f"bizra_envelope {env.id}: signed by node {env.sender}, verified "
      f"({', '.join(chain.gate_names)} passed); its output is the text received")
PY
kill -TERM "$server"
wait "$server"
server=
echo "(bizra serve stopped)"
