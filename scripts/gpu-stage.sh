#!/usr/bin/env bash
# Carries the cuda build and its models to a lent GPU machine whose `run` calls take at most
# 64 MiB of ignored files each (the device tool's `carry`): here they are packed and cut into
# pieces; there each call adds one piece, and the last one unpacks them into the repository's
# copy, where `scripts/gpu-check.sh` finds them.
#
#   here:   make build-cuda && scripts/gpu-stage.sh pack [MODEL.gguf ...]
#           (target/cuda/release/docent, models/e5 with an engine built for CUDA_TARGET_CPU,
#           models/smollm2, and each MODEL; prints one device command per piece)
#   there:  scripts/gpu-stage.sh take N     one call per piece, carrying .docent/stage/piece.N
#                                           and .docent/stage/MANIFEST
#           scripts/gpu-stage.sh unpack     checks the whole, unpacks, prints the environment
#           eval "$(scripts/gpu-stage.sh env)" && scripts/gpu-check.sh
#
# Pieces are checked by sha256 as they arrive and the whole once more before it is unpacked, so
# a piece carried twice or lost fails there, by name, not as a broken archive.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stage_here="$root/.docent/stage"
# Where the pieces gather on the GPU machine: outside the repository's copy, which each call
# lays anew.
gather="${STAGE_DIR:-/tmp/docent-stage}"
piece_size="${STAGE_PIECE:-60M}"
# Where they are unpacked: the repository's copy (another folder for a rehearsal here).
into="${UNPACK_ROOT:-$root}"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

pack() {
  local bin="target/cuda/release/docent"
  [[ -x "$bin" ]] || { echo "gpu-stage: build first: make build-cuda" >&2; exit 2; }
  [[ -f models/e5/e5.c ]] || { echo "gpu-stage: fetch the models first: make models" >&2; exit 2; }
  local extra=()
  for model in "$@"; do
    [[ -f "$model" ]] || { echo "gpu-stage: no such model file: $model" >&2; exit 2; }
    extra+=("$(realpath --relative-to="$root" "$model")")
  done
  local tree="$stage_here/tree"
  rm -rf "$stage_here" && mkdir -p "$tree/models" "$tree/$(dirname "$bin")"
  # Hard links: the tree costs no copy of the models.
  cp -al "$bin" "$tree/$bin"
  for path in models/e5 models/smollm2 "${extra[@]}"; do
    mkdir -p "$tree/$(dirname "$path")" && cp -al "$path" "$tree/$path"
  done
  # models/e5/libe5.so here is built for this processor (-march=native), which may not be the
  # GPU machine's: the staged one is built for the cuda binary's processor.
  rm "$tree/models/e5/libe5.so"
  "${CC:-gcc}" -O3 -march="${CUDA_TARGET_CPU:-x86-64-v3}" -funroll-loops -ffast-math -fopenmp \
    -fPIC -shared -o "$tree/models/e5/libe5.so" models/e5/e5.c -lm
  echo "gpu-stage: packing $bin, models/e5, models/smollm2${extra[*]:+, ${extra[*]}}"
  XZ_OPT="${XZ_OPT:--T0 -3}" tar -cJf "$stage_here/all.tar.xz" -C "$tree" .
  rm -rf "$stage_here/tree"
  (cd "$stage_here" && split -b "$piece_size" -d -a 2 all.tar.xz piece. &&
    { sha256sum all.tar.xz; sha256sum piece.*; } > MANIFEST && rm all.tar.xz)
  local pieces
  pieces=$(cd "$stage_here" && ls piece.* | wc -l)
  echo "gpu-stage: $pieces pieces of at most $piece_size in .docent/stage; on the GPU machine, one call each:"
  for piece in "$stage_here"/piece.*; do
    local n="${piece##*.}"
    echo "  run: scripts/gpu-stage.sh take $n    carry: [\".docent/stage/MANIFEST\", \".docent/stage/piece.$n\"]"
  done
  echo "  run: scripts/gpu-stage.sh unpack    carry: [\".docent/stage/MANIFEST\"]   (with the last piece's call, or after it)"
}

take() {
  local n="${1:?take N}" piece="$stage_here/piece.$1"
  [[ -f "$piece" && -f "$stage_here/MANIFEST" ]] || { echo "gpu-stage: piece.$n or MANIFEST was not carried" >&2; exit 2; }
  (cd "$stage_here" && grep " piece.$n\$" MANIFEST | sha256sum -c --quiet -) ||
    { echo "gpu-stage: piece.$n is not the one packed" >&2; exit 1; }
  mkdir -p "$gather"
  cp "$piece" "$gather/piece.$n"
  cp "$stage_here/MANIFEST" "$gather/MANIFEST"
  echo "gpu-stage: piece.$n taken ($(ls "$gather"/piece.* | wc -l) of $(grep -c ' piece\.' "$gather/MANIFEST"))"
}

unpack() {
  [[ -f "$gather/MANIFEST" ]] || { echo "gpu-stage: no piece taken yet in $gather" >&2; exit 2; }
  local want have
  want=$(grep -c ' piece\.' "$gather/MANIFEST")
  have=$(ls "$gather"/piece.* | wc -l)
  [[ "$have" == "$want" ]] || { echo "gpu-stage: $have of $want pieces taken; missing: $(cd "$gather" && grep -o 'piece\.[0-9]*$' MANIFEST | while read -r p; do [[ -f $p ]] || printf '%s ' "$p"; done)" >&2; exit 1; }
  (cd "$gather" && cat piece.* > all.tar.xz && grep ' all.tar.xz$' MANIFEST | sha256sum -c --quiet -) ||
    { echo "gpu-stage: the joined pieces are not the archive packed" >&2; exit 1; }
  tar -xJf "$gather/all.tar.xz" -C "$into"
  rm "$gather/all.tar.xz"
  echo "gpu-stage: unpacked into $into (target/cuda/release/docent, models/)"
  print_env
}

# The CUDA 13 libraries the cuda build links (cublas, curand, the runtime), as the GPU machine
# has them (e.g. a framework's wheels); the driver's libcuda is the machine's own.
print_env() {
  local lib
  lib=$(find / -xdev \( -path /proc -o -path /sys \) -prune -o -name 'libcublas.so.13*' -print 2>/dev/null | head -1)
  [[ -n "$lib" ]] || { echo "gpu-stage: no libcublas.so.13 on this machine: carry the wheels' libraries too" >&2; exit 1; }
  echo "export LD_LIBRARY_PATH=$(dirname "$lib")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  take) shift; take "$@" ;;
  unpack) unpack ;;
  env) print_env ;;
  *) usage ;;
esac
