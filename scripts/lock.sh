#!/usr/bin/env bash
# Regenerates the hash-pinned locks from pyproject.toml with uv (`make lock`). One tool, three sets:
#   requirements/runtime.lock  the container image (the services only)
#   requirements/local.lock    make run (runtime + the local broker)
#   requirements/dev.lock      make test / development (everything)
#   requirements/build.lock    the build backend for the image (from requirements/build.in)
# tests/test_lock.py fails when pyproject.toml and these files disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
compile() {  # $1 = output, $2 = input, rest = extra uv arguments
  local out=$1 input=$2; shift 2
  "$UV" pip compile "$input" --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
    --no-emit-package bookstore "$@" --output-file "$out"
}
mkdir -p requirements
compile requirements/runtime.lock pyproject.toml
compile requirements/local.lock pyproject.toml --extra local
compile requirements/dev.lock pyproject.toml --extra dev
compile requirements/build.lock requirements/build.in
