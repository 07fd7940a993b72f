#!/bin/sh
# Builds mimalloc's secure build (MI_SECURE=ON: guard pages, randomized
# free lists, encoded links, double-free detection) and, from the same
# sources and flags, its plain build, so that the cost of mimalloc's secure
# mode can be measured on this machine beside strata's (bench/hardening.sh
# picks both up).  Debian ships only the plain library (libmimalloc2.0);
# this takes the source of that same version from Debian's archive, builds
# it under BUILDDIR/peers/ and leaves nothing else behind.  Nothing of it is
# committed.  Needs cmake and the network path to deb.debian.org that apt
# uses.
# Usage: sh bench/mimalloc_secure.sh [builddir]
set -e
B=${1:-build}
P=$(mkdir -p "$B/peers" && cd "$B/peers" && pwd)
command -v cmake >/dev/null || { echo "$0: cmake not found (apt-get install cmake)" >&2; exit 2; }
V=$(dpkg-query -W -f '${Version}' libmimalloc2.0 2>/dev/null || true)
V=${V%-*}                                   # upstream part: 2.0.9+ds
[ -n "$V" ] || { echo "$0: libmimalloc2.0 is not installed (apt-get install libmimalloc-dev)" >&2; exit 2; }
T=$P/mimalloc_$V.orig.tar.xz
[ -f "$T" ] || curl -fsS -o "$T" "http://deb.debian.org/debian/pool/main/m/mimalloc/mimalloc_$V.orig.tar.xz"
S=$P/mimalloc-src
rm -rf "$S" && mkdir -p "$S" && tar -xJf "$T" -C "$S" --strip-components=1
for v in plain secure; do
  O=$P/mimalloc-$v
  rm -rf "$O" && mkdir -p "$O"
  flag=; [ $v = secure ] && flag=-DMI_SECURE=ON
  (cd "$O" && cmake "$S" -DCMAKE_BUILD_TYPE=Release -DMI_BUILD_TESTS=OFF \
     -DMI_BUILD_STATIC=OFF -DMI_BUILD_OBJECT=OFF $flag >/dev/null && make -s -j2 >/dev/null)
done
ls "$P"/mimalloc-plain/libmimalloc.so "$P"/mimalloc-secure/libmimalloc-secure.so
