#!/usr/bin/env bash
# Installs every external tool the test suite uses, so that nothing is skipped on a fresh machine:
# Debian packages (needs root: make test runs as root on CI) and newman from npm. Idempotent and
# quiet when everything is already there.
set -euo pipefail

# command on PATH (or file) -> Debian package that provides it
declare -A DEBIAN=(
  [wrk]=wrk
  [/usr/lib/x86_64-linux-gnu/libluajit-5.1.so.2]=libluajit-5.1-2
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [haproxy]=haproxy
  [promtool]=prometheus
  [kubectl]=kubectl
  [mariadbd]=mariadb-server
  [redis-server]=redis-server
  [npm]=nodejs
)

have() { if [[ $1 == /* ]]; then [[ -e $1 ]]; else command -v "$1" >/dev/null 2>&1; fi; }

missing=()
for tool in "${!DEBIAN[@]}"; do
  have "$tool" || missing+=("${DEBIAN[$tool]}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing Debian packages (run as root to install them): ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! have newman; then
  echo "installing newman (npm)"
  npm install --global --silent newman >/dev/null
fi

# scripts/deploy.sh --create-infra runs against moto_server in the tests with the real AWS CLI.
if ! have aws; then
  echo "installing the AWS CLI (pip)"
  python3 -m pip install --quiet awscli
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi
