#!/usr/bin/env bash
# Installs the pinned Deno from the npm registry package `deno` into a tools folder and prints the binary's path.
# The tools folder must stay outside every ancestor of the source tree: a package.json there would make Deno treat
# our folders as npm-managed. Default: /opt/siderolink-tools (override with SIDEROLINK_TOOLS).
set -euo pipefail
version=2.9.6
tools=${SIDEROLINK_TOOLS:-/opt/siderolink-tools}
bin="$tools/node_modules/@deno/linux-x64-glibc/deno"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "^deno $version "; then
  echo "$bin"
  exit 0
fi
command -v npm >/dev/null || { echo "install-deno: npm is needed to fetch deno@$version from the npm registry" >&2; exit 1; }
mkdir -p "$tools"
npm install --no-save --no-audit --no-fund --prefix "$tools" "deno@$version" >&2
[ -x "$bin" ] || { echo "install-deno: $bin missing after npm install (only linux-x64-glibc is supported)" >&2; exit 1; }
echo "$bin"
