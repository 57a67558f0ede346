#!/usr/bin/env bash
# Prepare what the GPU benchmark (python -m bench.gpu) takes along to the GPU box.
#
# The box has Python 3.12 with torch (CUDA), numpy, scipy, typer, tqdm, psutil, pytest,
# hypothesis and pytest-timeout, but no FAISS, HiGHS or pydantic, and no network. This script
# downloads the wheels `import covering` still needs into .whl/ and copies the MNIST training
# files into .mnist/ (both git-ignored: the device tool takes them with carry=[".whl", ".mnist"]),
# then checks that they fit the 64 MiB a call may carry (with the working tree).
#
# Usage, from the repository root:  bash bench/gpu-wheels.sh [MNIST_DIR]
# MNIST_DIR defaults to $COVERING_MNIST_DIR, then ../shared/data/mnist.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# exact versions: one of each (two versions of a package stop the install there); pydantic
# 2.14.4 pins pydantic-core 2.50.5 and needs typing-extensions >= 4.16 (newer than the box's)
WHEELS=(
  faiss-cpu==1.15.1
  highspy==1.16.0
  pydantic==2.14.4
  pydantic-core==2.50.5
  annotated-types==0.8.0
  typing-inspection==0.4.5
  typing-extensions==4.16.0
)
LIMIT=$((64 * 1024 * 1024))

rm -rf .whl
mkdir -p .whl
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any \
  -d .whl "${WHEELS[@]}"

mnist=${1:-${COVERING_MNIST_DIR:-../shared/data/mnist}}
rm -rf .mnist
if [ -f "$mnist/train-images-idx3-ubyte.gz" ] && [ -f "$mnist/train-labels-idx1-ubyte.gz" ]; then
  mkdir -p .mnist
  cp "$mnist/train-images-idx3-ubyte.gz" "$mnist/train-labels-idx1-ubyte.gz" .mnist/
  if [ -f "$mnist/SHA256SUMS" ]; then cp "$mnist/SHA256SUMS" .mnist/; fi
else
  echo "no MNIST training files in $mnist: the benchmark will skip MNIST" >&2
fi

ls -l .whl .mnist 2>/dev/null || true
wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
data=$( (du -cb .mnist/* 2>/dev/null || echo 0) | tail -1 | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
total=$((wheels + data + tree))
echo "wheels $wheels B, MNIST $data B, working tree $tree B: $total B of $LIMIT B"
if [ "$total" -gt "$LIMIT" ]; then
  echo "too large to carry in one call" >&2
  exit 1
fi
