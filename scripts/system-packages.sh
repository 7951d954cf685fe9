#!/usr/bin/env bash
# The real components the test suite runs (PostgreSQL, nginx, headless Chromium) are Debian packages. A fresh
# machine (CI) has none of them: install what is missing, once, with apt-get. Nothing happens when all are there.
set -euo pipefail

missing=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
{ [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] && [ -x "$pg_bin/postgres" ]; } || missing+=(postgresql)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/chromium ] || missing+=(chromium)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  echo "system-packages: ${missing[*]} missing and not root: run 'apt-get install -y ${missing[*]}' as root" >&2
  exit 1
fi
echo "system-packages: installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
# Debian starts the packaged services on install; the tests start their own throwaway instances instead.
for service in nginx postgresql; do
  "${as_root[@]}" service "$service" stop >/dev/null 2>&1 || true
done
