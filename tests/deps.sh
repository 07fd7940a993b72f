#!/bin/sh
# Installs what `make test` (or, with "demo", `make demo`) needs when it is
# missing, so the README's two commands work on a fresh Debian machine:
# apt-get as root, otherwise a clear list of what to install.  Quick and
# silent when everything is there.
set -eu
need="gcc:gcc g++:g++ make:make python3:python3 sqlite3:sqlite3 lua5.4:lua5.4 \
redis-server:redis-server redis-benchmark:redis-tools redis-cli:redis-tools xmllint:libxml2-utils \
valgrind:valgrind pkg-config:pkg-config gawk:gawk gzip:gzip tar:tar perl:perl git:git xz:xz-utils"
libs="libjemalloc.so.2:libjemalloc-dev libtcmalloc_minimal.so.4:libgoogle-perftools-dev \
libmimalloc.so.2:libmimalloc-dev libtalloc.so:libtalloc-dev libapr-1.so:libapr1-dev libgc.so:libgc-dev"
if [ "${1:-}" = demo ]; then need="gcc:gcc make:make python3:python3 valgrind:valgrind"; fi
missing=""
for pair in $need; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ "${1:-}" != demo ]; then
  [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/libc.a ] || missing="$missing libc6-dev"
  for pair in $libs; do
    ls /usr/lib/*/"${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
  done
fi
[ -z "$missing" ] && exit 0
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq $missing >/dev/null
else
  echo "deps: missing packages:$missing (install them, e.g. sudo apt-get install$missing)" >&2
  [ "${1:-}" = demo ] && exit 0        # the demo skips what it cannot run
  exit 1
fi
