#!/bin/sh
# `make install` into a temporary PREFIX, then build a program against the
# installed headers and library through pkg-config, and run it.
set -eu
B=${STRATA_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s install PREFIX="$tmp/prefix" BUILD="$B" > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; echo "FAIL: make install"; exit 1; }
for f in lib/libstrata.so lib/libstrata.a include/strata/malloc.h include/strata/stats.h lib/pkgconfig/strata.pc; do
  [ -f "$tmp/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
cat > "$tmp/prog.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <strata/malloc.h>
#include <strata/stats.h>
int main(void) {
  char *p = strata_malloc(100);
  strcpy(p, "installed");
  strata_stats_t st;
  if (strata_stats_get(&st) != 0 || st.resident == 0) return 2;
  printf("%s %d\n", p, strata_malloc_usable_size(p) >= 100);
  strata_free(p);
  return 0;
}
C
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
if command -v pkg-config >/dev/null 2>&1; then
  flags=$(pkg-config --cflags --libs strata)
else
  flags="-I$tmp/prefix/include -L$tmp/prefix/lib -lstrata"
fi
cc "$tmp/prog.c" $flags -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/prog"
out=$("$tmp/prog")
[ "$out" = "installed 1" ] || { echo "FAIL: program printed '$out'"; exit 1; }
ldd "$tmp/prog" | grep -q "$tmp/prefix/lib/libstrata.so" || { echo "FAIL: not linked to the installed library"; exit 1; }
echo "install: ok (pkg-config: $(command -v pkg-config >/dev/null && echo yes || echo no))"
