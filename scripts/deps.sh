#!/usr/bin/env bash
# Installs the Debian packages evcast needs, only those missing, only when root.
# Non-root: lists what is missing and carries on (the build then says what fails).
# jq, python3 and iproute2 are for the integration tests (JSON checks, raw UDP, netns);
# nftables for kernel-level packet loss in the v2 loss tests (this kernel has no
# sch_netem); sqlite3 to inspect databases; tshark for the Wireshark dissector
# test; valgrind for the callgrind rows of `make bench`; curl for the metrics test;
# openssl for the CA and certificates of the NATS TLS test.
set -euo pipefail
PKGS=(cmake make gcc clang pkg-config libuv1-dev libsodium-dev nettle-dev libexpat1-dev
      libcjson-dev libsqlite3-dev libcmocka-dev liblua5.4-dev libnats-dev libclang-rt-14-dev
      libzstd-dev iproute2 jq python3 lua-sql-sqlite3 nats-server nftables sqlite3 tshark valgrind curl openssl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: missing packages (run as root to install): ${missing[*]}" >&2
fi
