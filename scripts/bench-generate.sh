#!/usr/bin/env bash
# Generation speed, docent against llama.cpp, side by side in one run: the same GGUF continues
# the same text (the English files of corpus/, cut to PROMPT_TOKENS tokens) greedily for
# DECODE_TOKENS tokens on THREADS threads. The engines take turns, ROUNDS times each, and the
# medians of each rate are compared: on a shared machine single runs vary by ±20%.
#
#   scripts/bench-generate.sh [MODEL.gguf]    (default: the generator `make models` fetched)
#   PROMPT_TOKENS=1000 DECODE_TOKENS=128 THREADS=2 ROUNDS=5 scripts/bench-generate.sh
#
# llama.cpp is node-llama-cpp's prebuilt CPU binary, which `make bench-generate` installs under
# .docent/llama-cpp (the tests use it too).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-$(ls "$root"/models/smollm2/*.gguf)}"
prompt_tokens="${PROMPT_TOKENS:-1000}"
decode_tokens="${DECODE_TOKENS:-128}"
threads="${THREADS:-2}"
rounds="${ROUNDS:-5}"
node_dir="$root/.docent/llama-cpp"
docent="$root/target/release/docent"

command -v node >/dev/null || { echo "bench-generate needs node (Debian: apt-get install nodejs npm)" >&2; exit 2; }
[ -x "$docent" ] || { echo "build docent first: make build" >&2; exit 2; }
[ -f "$node_dir/.installed" ] || { echo "install llama.cpp first: make bench-generate" >&2; exit 2; }
# Node resolves packages from the script's folder, so the script runs from there.
cp "$root/scripts/llama-cpp-continue.mjs" "$node_dir/"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat "$root"/corpus/en/*.md "$root"/corpus/en/*.txt > "$work/prompt.txt"

echo "model: $(basename "$model"); prompt $prompt_tokens tokens, $decode_tokens decoded, $threads threads, $rounds rounds"
for round in $(seq "$rounds"); do
  RAYON_NUM_THREADS="$threads" "$docent" bench generate --model "$model" --prompt-file "$work/prompt.txt" \
    --prompt-tokens "$prompt_tokens" --tokens "$decode_tokens" --json | tr -d '\n' >> "$work/docent.jsonl"
  echo >> "$work/docent.jsonl"
  node "$node_dir/llama-cpp-continue.mjs" "$model" "$work/prompt.txt" "$prompt_tokens" "$decode_tokens" "$threads" >> "$work/llama.jsonl"
  echo "round $round/$rounds done" >&2
done

python3 - "$work/docent.jsonl" "$work/llama.jsonl" <<'PY'
import json, statistics, sys
docent, llama = ([json.loads(line) for line in open(path) if line.strip()] for path in sys.argv[1:3])
median = lambda runs, key: statistics.median(run[key] for run in runs)
if docent[0]["prompt_tokens"] != llama[0]["prompt_tokens"]:
    print(f"note: the prompts tokenized to {docent[0]['prompt_tokens']} and {llama[0]['prompt_tokens']} tokens")
print(f"{'':24}{'docent':>10}{'llama.cpp':>12}{'ratio':>8}")
for label, key in [("prompt (tokens/s)", "prompt_tokens_per_s"), ("decode (tokens/s)", "decode_tokens_per_s")]:
    ours, theirs = median(docent, key), median(llama, key)
    print(f"{label:24}{ours:10.1f}{theirs:12.1f}{ours / theirs:8.2f}")
print(f"{'peak RSS (MB)':24}{median(docent, 'peak_rss_mb'):10.0f}{median(llama, 'peak_rss_mb'):12.0f}")
PY
