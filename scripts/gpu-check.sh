#!/usr/bin/env bash
# The generator on the GPU against the CPU, on a machine with an NVIDIA GPU and its driver.
# `make gpu-check` builds docent with the cuda feature first (make build-cuda); then this:
#
#   1. answers the demo question on the CPU and on the GPU (greedy) and compares the answers;
#   2. runs `eval --qa` on debian-faq-en on both and compares the scores;
#   3. times prompt processing and decoding on both (`bench generate`), with the GPU's peak
#      memory;
#   4. serves on the GPU and times 8 questions asked at once, with --max-generations 1 and 8,
#      greedy, and compares the answers (generations at once must not disturb each other).
#
#   scripts/gpu-check.sh [MODEL.gguf]     (default: the generator `make models` fetched)
#   EVAL_DIR=../shared/eval/debian-faq-en QA_QUESTIONS=61 scripts/gpu-check.sh
#   GPU_DEVICE=cpu QA_QUESTIONS=3 scripts/gpu-check.sh    (a rehearsal on a machine without one)
#   DOCENT_BIN=/path/to/docent scripts/gpu-check.sh       (a cuda build carried elsewhere)
#
# Prints figures for the README; exits non-zero when CUDA is missing or a step fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
docent="${DOCENT_BIN:-$root/target/cuda/release/docent}"
model="${1:-$(ls "$root"/models/smollm2/*.gguf)}"
eval_dir="${EVAL_DIR:-$root/../shared/eval/debian-faq-en}"
question="${DEMO_QUESTION:-What is retrieval-augmented generation and why use it?}"
gpu="${GPU_DEVICE:-cuda}"
work="$(mktemp -d)"
store="$work/store"
server=""
sampler=""
cleanup() {
  [[ -n "$server" ]] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; } || true
  [[ -n "$sampler" ]] && kill "$sampler" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The CUDA 13 libraries the cuda build links (cublas, curand, the runtime) come from the pinned
# wheels `make build-cuda` unpacked; the driver's libcuda comes from the machine.
export LD_LIBRARY_PATH="$root/.docent/cuda/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [[ "$gpu" == cuda ]]; then
  command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi: this machine has no NVIDIA driver" >&2; exit 2; }
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
else
  echo "gpu-check: rehearsal, with --device $gpu in the GPU's place"
fi
[[ -x "$docent" ]] || { echo "gpu-check: build first: make build-cuda" >&2; exit 2; }

# The GPU's memory in use, sampled every 100 ms into a file while GPU work runs.
sample_memory() {
  [[ "$gpu" == cuda ]] || return 0
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$work/memory-$1.txt" &
  sampler=$!
}
stop_sampling() {
  [[ "$gpu" == cuda ]] || { echo "not sampled"; return 0; }
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sampler=""
  echo "$(sort -n "$work/memory-$1.txt" | tail -1) MiB peak (baseline $(head -1 "$work/memory-$1.txt") MiB)"
}

# Each step runs once per side: the CPU, then the GPU (or its stand-in in a rehearsal).
device_for() { if [[ "$1" == gpu ]]; then echo "$gpu"; else echo cpu; fi; }

echo "== ingest corpus/"
"$docent" --store "$store" ingest corpus 2>&1 | tail -1

echo "== 1. the demo question, greedy, CPU then GPU"
for side in cpu gpu; do
  device="$(device_for "$side")"
  "$docent" --store "$store" ask "$question" --json --model "$model" --device "$device" \
    --temperature 0 > "$work/ask-$side.json"
done
python3 - "$work/ask-cpu.json" "$work/ask-gpu.json" <<'PY'
import json, sys
cpu, gpu = (json.load(open(p)) for p in sys.argv[1:3])
print("CPU:", cpu["answer"][:300])
print("GPU:", gpu["answer"][:300])
print("same answer" if cpu["answer"] == gpu["answer"] else "ANSWERS DIFFER")
PY

echo "== 2. eval --qa on $(basename "$eval_dir"), CPU then GPU"
head -n "${QA_QUESTIONS:-1000000}" "$eval_dir/qa.jsonl" > "$work/qa.jsonl"
for side in cpu gpu; do
  device="$(device_for "$side")"
  [[ "$side" == gpu ]] && sample_memory eval
  "$docent" eval "$eval_dir" --qa "$work/qa.jsonl" --json --model "$model" \
    --device "$device" > "$work/eval-$side.json"
  [[ "$side" == gpu ]] && echo "GPU memory during eval: $(stop_sampling eval)"
done
python3 - "$work/eval-cpu.json" "$work/eval-gpu.json" <<'PY'
import json, sys
cpu, gpu = (json.load(open(p))["qa"] for p in sys.argv[1:3])
keys = ["answered", "answered_by_generator", "faithfulness", "token_f1", "containment", "cited_relevant"]
print(f"{'':24}{'cpu':>10}{'gpu':>10}")
for key in keys + ["seconds_p50", "seconds_p95"]:
    print(f"{key:24}{cpu[key]:10.3f}{gpu[key]:10.3f}")
print("same scores" if all(cpu[k] == gpu[k] for k in keys) else "SCORES DIFFER")
PY

echo "== 3. generation speed (1,000-token prompt, 128 tokens), CPU then GPU"
cat corpus/en/*.md corpus/en/*.txt > "$work/prompt.txt"
for side in cpu gpu; do
  device="$(device_for "$side")"
  [[ "$side" == gpu ]] && sample_memory bench
  "$docent" bench generate --model "$model" --device "$device" --prompt-file "$work/prompt.txt" \
    --prompt-tokens 1000 --tokens 128 --json > "$work/bench-$side.json"
  [[ "$side" == gpu ]] && echo "GPU memory while generating: $(stop_sampling bench)"
done
python3 - "$work/bench-cpu.json" "$work/bench-gpu.json" <<'PY'
import json, sys
cpu, gpu = (json.load(open(p)) for p in sys.argv[1:3])
print(f"{'':24}{'cpu':>10}{'gpu':>10}")
for key in ["prompt_tokens_per_s", "decode_tokens_per_s"]:
    print(f"{key:24}{cpu[key]:10.1f}{gpu[key]:10.1f}")
pairs = list(zip(cpu["tokens"], gpu["tokens"]))
same = next((i for i, (c, g) in enumerate(pairs) if c != g), len(pairs))
# Kernels that round differently can part at a near-tie; after it the texts go their own ways.
print("same greedy tokens" if cpu["tokens"] == gpu["tokens"] else
      f"greedy tokens part after {same} of {len(cpu['tokens'])}")
PY

echo "== 4. 8 questions at once, served on the GPU"
for slots in 1 8; do
  port=$((18080 + slots))
  "$docent" --store "$store" serve --addr "127.0.0.1:$port" --model "$model" --device "$gpu" \
    --max-generations "$slots" 2>"$work/serve-$slots.log" &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
  [[ "$slots" == 8 ]] && sample_memory serve
  python3 - "$port" "$slots" "$work/serve-$slots.json" <<'PY'
import json, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
port, slots = sys.argv[1], sys.argv[2]
questions = ["What is retrieval-augmented generation?", "How does a model pick the next token?",
             "What is prompt injection?", "When should I fine-tune a model?",
             "What is function calling?", "Why cite sources in answers?",
             "What does temperature change?", "How are documents chunked?"]
def ask(q):
    body = json.dumps({"question": q, "max_tokens": 128, "temperature": 0}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/ask", body, {"content-type": "application/json"})
    started = time.time()
    answer = json.load(urllib.request.urlopen(request, timeout=600))
    return time.time() - started, answer["timings"]["generated_tokens"], answer["answer"]
started = time.time()
with ThreadPoolExecutor(8) as pool:
    results = list(pool.map(ask, questions))
wall = time.time() - started
tokens = sum(t for _, t, _ in results)
json.dump([a for _, _, a in results], open(sys.argv[3], "w"))
print(f"--max-generations {slots}: 8 answers in {wall:.1f} s ({8 / wall:.2f} answers/s, "
      f"{tokens / wall:.1f} generated tokens/s), slowest {max(s for s, _, _ in results):.1f} s")
PY
  [[ "$slots" == 8 ]] && echo "GPU memory serving 8 at once: $(stop_sampling serve)"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
done
cmp -s "$work/serve-1.json" "$work/serve-8.json" && echo "same answers one at a time and 8 at once" ||
  { echo "ANSWERS DIFFER between one at a time and 8 at once: generations at once disturb each other" >&2; exit 1; }
