#!/usr/bin/env bash
# Compile check of the `cuda` feature without a system CUDA toolkit.
#
# NVIDIA publishes the CUDA 13 compiler, runtime, math libraries and headers as PyPI wheels that
# unpack into one toolkit-shaped tree (nvidia/cu13/{bin,include,lib,nvvm}). This script fetches the
# pinned wheels once into the cache, unpacks them there and builds the core with `--features cuda`
# (llama.cpp's ggml-cuda backend compiled by that nvcc) in its own target directory, so the CPU
# build's artefacts are left alone.
#
# It builds the library only: linking an executable needs the static cuBLAS and the driver's
# libcuda.so, which the wheels do not ship (a machine with the toolkit and a driver has both), so
# empty stand-ins take their place below, for CMake and rustc's bookkeeping only.
#
# usage: scripts/check-cuda.sh CACHE_DIR        (env CUDA_ARCHS: architectures, default 90 = H100)
set -euo pipefail

cache=${1:?usage: check-cuda.sh CACHE_DIR}
archs=${CUDA_ARCHS:-90}
root="$cache/cuda/13.5"
venv_python=${PYTHON:-python3}

wheels=(
  nvidia-cuda-nvcc==13.5.37
  nvidia-cuda-crt==13.5.37
  nvidia-nvvm==13.5.37
  nvidia-cuda-runtime==13.5.37
  nvidia-cuda-cccl==13.3.5.0.6
  nvidia-cublas==13.10.0.20
)

if [ ! -x "$root/nvidia/cu13/bin/nvcc" ]; then
  echo "fetching the CUDA 13.5 toolkit wheels from PyPI into $cache/cuda"
  mkdir -p "$cache/cuda/wheels"
  "$venv_python" -m pip download --quiet --no-deps --dest "$cache/cuda/wheels" "${wheels[@]}"
  tmp=$(mktemp -d "$cache/cuda/unpack.XXXXXX")
  for w in "$cache"/cuda/wheels/*.whl; do
    "$venv_python" -m zipfile -e "$w" "$tmp"
  done
  chmod +x "$tmp"/nvidia/cu13/bin/* "$tmp"/nvidia/cu13/nvvm/bin/*
  # CMake's FindCUDAToolkit looks for the unversioned names a toolkit install provides.
  for lib in "$tmp"/nvidia/cu13/lib/lib*.so.*; do
    ln -sf "$(basename "$lib")" "${lib%.so.*}.so"
  done
  # The driver API library comes with the NVIDIA driver, and the toolkit ships an empty stub of it
  # in lib/stubs that the wheels lack; CMake only needs that file to define CUDA::cuda_driver (the
  # library-only build below never links against it), so an empty shared object stands in for it.
  mkdir -p "$tmp/nvidia/cu13/lib/stubs"
  gcc -shared -o "$tmp/nvidia/cu13/lib/stubs/libcuda.so" -x c /dev/null
  rm -rf "$root" && mv "$tmp" "$root"
fi

toolkit="$root/nvidia/cu13"
if [ ! -d "$toolkit/lib64" ]; then
  # llama-cpp-sys-2 asks rustc to bundle cudart_static, cublas_static, cublasLt_static and
  # culibos into its rlib, found in <CUDA_LIBRARY_PATH>/lib64. The wheels ship cudart_static,
  # cuBLAS only as shared libraries, and CUDA 13 has no culibos: as this check links no
  # executable, empty archives stand in for those three (a toolkit install has the real ones).
  mkdir -p "$toolkit/lib64"
  ln -sf ../lib/libcudart_static.a "$toolkit/lib64/libcudart_static.a"
  for lib in cublas_static cublasLt_static culibos; do
    ar rc "$toolkit/lib64/lib$lib.a"
  done
fi
export PATH="$toolkit/bin:$PATH"
export CUDA_PATH="$toolkit" CUDAToolkit_ROOT="$toolkit" CUDA_LIBRARY_PATH="$toolkit"
export CMAKE_CUDA_COMPILER="$toolkit/bin/nvcc" CMAKE_CUDA_ARCHITECTURES="$archs"
export CARGO_TARGET_DIR="$cache/target-cuda"

nvcc --version | tail -1
echo "building bizra --features cuda for sm_$archs into $CARGO_TARGET_DIR"
cargo build --release --lib -p bizra --features cuda
echo "cuda: the core and llama.cpp's CUDA backend compiled"
