#!/usr/bin/env bash
# Prints docent's figures on this machine: ingest throughput and peak memory on a folder of
# 1,000 real documents (sections of the Python manual from the evaluation data), then `ask`
# latency split into retrieval / prompt processing / generation, and its peak memory.
#
#   scripts/bench.sh [EVAL_DIR]     (default: ../shared/eval)
#   BENCH_FILES=200 scripts/bench.sh    fewer documents; DOCENT_EMBEDDER=minilm for the other embedder
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval_dir="${1:-$root/../shared/eval}"
docent="$root/target/release/docent"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

files="${BENCH_FILES:-1000}"
python3 - "$eval_dir/pydocs-faq/corpus.jsonl" "$work/docs" "$files" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[2])
with open(sys.argv[1], encoding="utf-8") as f:
    for i, line in zip(range(int(sys.argv[3])), f):
        doc = json.loads(line)
        path = out / f"part{i % 10}" / f"{i:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
PY
echo "corpus: $files files, $(du -sh "$work/docs" | cut -f1); embedder: ${DOCENT_EMBEDDER:-e5}"

measure() { /usr/bin/time -f '%e s wall, %M KiB peak RSS' "$@"; }

echo "== ingest (fresh store)"
measure "$docent" --store "$work/store" ingest "$work/docs" --json 2>"$work/time" >"$work/report.json"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['added']} files, {r['chunks_written']} chunks in {r['seconds']:.1f} s: {r['chunks_written']/r['seconds']:.1f} chunks/s\")" "$work/report.json"
tail -1 "$work/time"

echo "== re-ingest (nothing changed)"
measure "$docent" --store "$work/store" ingest "$work/docs" --json 2>"$work/time" >"$work/report.json"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['unchanged']} unchanged in {r['seconds']:.2f} s\")" "$work/report.json"
tail -1 "$work/time"

echo "== ask (SmolLM2-135M Q4_1 on CPU, max 128 answer tokens)"
for q in "How do I read a file line by line?" "What is a lambda expression?" "How are default argument values evaluated?"; do
  measure "$docent" --store "$work/store" ask "$q" --json --max-tokens 128 2>"$work/time" >"$work/answer.json"
  python3 -c "
import json,sys
t=json.load(open(sys.argv[1]))['timings']
print(f\"retrieval {t['retrieval_ms']:.0f} ms | prompt {t['prompt_tokens']} tok in {t['prompt_ms']:.0f} ms ({t['prompt_tokens']/max(t['prompt_ms'],1)*1e3:.0f} tok/s) | answer {t['generated_tokens']} tok in {t['generation_ms']:.0f} ms ({t['generated_tokens']/max(t['generation_ms'],1)*1e3:.1f} tok/s)\")" "$work/answer.json"
  tail -1 "$work/time"
done
