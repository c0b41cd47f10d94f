#!/usr/bin/env bash
# The CUDA 13 compiler and libraries from pinned registry wheels, unpacked (not installed) into
# .docent/cuda/, for building docent's `cuda` feature on a machine without a CUDA toolkit — a
# GPU-less CI machine included: there is no GPU to ask, so the target is named (sm_90, an H200).
# Prints the environment to build with; `make build-cuda` uses it.
#
# Linking needs the driver's libcuda, which no wheel ships (it comes with the GPU driver): a
# stub with every driver-API function of cuda.h (each returns "not initialized") stands in for
# it at link time, under lib/stubs as in NVIDIA's own toolkit. The binary records libcuda.so.1,
# so on a machine with a driver the real one is loaded; on one without, CUDA is just absent.
#
# Why these: nvidia-cuda-nvcc-cu12 12.9.86 ships no nvcc binary (only ptxas); the CUDA 13 wheels
# do, with cicc in nvidia-nvvm. CUDA 13.0, the first 13.x, not the newest: candle's kernels are
# PTX that the driver compiles when they load, and a driver takes PTX only from a toolkit as old
# as itself or older (13.5's PTX fails to load on an R580 driver, which is CUDA 13.0), so the
# oldest 13.x runs on every CUDA 13 driver. The libraries are 13.0's too.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.docent/cuda"
python="${PYTHON:-python3}"
wheels=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cuda-cccl==13.0.85
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
)
stamp="$dest/.installed-$( { printf "%s " "${wheels[@]}"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)"

if [[ ! -f "$stamp" ]]; then
  echo "cuda-toolkit: fetching ${#wheels[@]} pinned wheels" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$work" "${wheels[@]}"
  rm -rf "$dest"
  for wheel in "$work"/*.whl; do
    "$python" -m zipfile -e "$wheel" "$dest"
  done
  # Zip archives do not keep the executable bit.
  chmod +x "$dest"/nvidia/cu13/bin/* "$dest"/nvidia/cu13/nvvm/bin/*
  # The linker looks for unversioned names.
  lib="$dest/nvidia/cu13/lib"
  for so in libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13 libcudart.so.13; do
    ln -sf "$so" "$lib/${so%%.so.*}.so"
  done
  mkdir -p "$lib/stubs"
  "${CC:-gcc}" -E -P "$dest/nvidia/cu13/include/cuda.h" |
    grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d '( \t' | sort -u |
    awk '{ print "int " $1 "(void) { return 3; }" }' > "$work/libcuda-stub.c"
  "${CC:-gcc}" -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$lib/stubs/libcuda.so" "$work/libcuda-stub.c"
  # Under its run-time name too: with lib/stubs on LD_LIBRARY_PATH, a cuda build starts on a
  # machine without a driver and finds no GPU (how `--device auto` falling back is rehearsed).
  ln -sf libcuda.so "$lib/stubs/libcuda.so.1"
  touch "$stamp"
fi

cuda="$dest/nvidia/cu13"
echo "export PATH=$cuda/bin:\$PATH CUDA_ROOT=$cuda CUDA_PATH=$cuda CUDA_TOOLKIT_ROOT_DIR=$cuda CUDA_COMPUTE_CAP=\${CUDA_COMPUTE_CAP:-90} CUDARC_CUDA_VERSION=13000"
