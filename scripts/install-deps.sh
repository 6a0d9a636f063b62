#!/usr/bin/env bash
# install-deps.sh: install every Debian 12 package ckv needs to build, test and
# run, but only those that are missing. Idempotent; run as root. It runs
# `apt-get update` only when something has to be installed.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libsodium-dev libssl-dev libsqlite3-dev sqlite3
  libsignal-protocol-c-dev
  libncurses-dev
  libcurl4-openssl-dev libmicrohttpd-dev
  libjansson-dev libqrencode-dev
  libcmocka-dev
  clang libclang-rt-14-dev
  tmux curl openssl python3 python3-axolotl
  golang-go golang-golang-x-mod-dev
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run this script as root (or install them with apt-get) and try again" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
