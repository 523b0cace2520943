#!/usr/bin/env bash
# Pins the Dockerfile's base image by digest: resolves the tag in `ARG PYTHON_IMAGE=` to its
# current manifest-list digest and rewrites the line as tag@sha256:... Needs registry access
# (docker buildx or crane); run it when bumping the base image, then commit the Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/.."
line=$(grep -E '^ARG PYTHON_IMAGE=' Dockerfile)
image=${line#ARG PYTHON_IMAGE=}
tag=${image%@*}
if command -v crane >/dev/null; then
  digest=$(crane digest "$tag")
else
  digest=$(docker buildx imagetools inspect "$tag" --format '{{json .Manifest.Digest}}' | tr -d '"')
fi
[[ $digest == sha256:* ]] || { echo "could not resolve a digest for $tag" >&2; exit 1; }
sed -i "s|^ARG PYTHON_IMAGE=.*|ARG PYTHON_IMAGE=$tag@$digest|" Dockerfile
echo "Dockerfile: PYTHON_IMAGE=$tag@$digest"
