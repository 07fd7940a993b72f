#!/bin/sh
# Real programs: ordinary command-line tools under LD_PRELOAD=$STRATA_LIB --
# sort (300000 lines, also multi-threaded with temp files), seq, awk (every
# awk installed: gawk, mawk), grep -c (regex and many fixed strings), tar
# (create, list, extract a temp tree), gzip | gunzip.  Each is run plainly and
# preloaded; identical output and exit status 0 required.
. "$(dirname "$0")/data/common.sh"

for p in sort seq awk grep tar gzip gunzip md5sum find xargs bash; do
  command -v "$p" >/dev/null 2>&1 || fail "$p not found"
done
export LC_ALL=C
D=$REAL_TMP

# --- deterministic input data (made by plain awk, not under test) -------------
awk 'BEGIN {
  s = 42
  for (i = 1; i <= 300000; i++) {
    s = (s * 1103515245 + 12345) % 2147483648
    w = ""
    n = 3 + s % 9
    for (j = 0; j < n; j++) w = w sprintf("%c", 97 + int(s / (j + 7)) % 26)
    printf "%s %d %d x%02d\n", w, s % 100000, i, s % 97
  }
}' > "$D/lines.txt" || fail "generating lines.txt failed"
[ "$(wc -l < "$D/lines.txt")" -eq 300000 ] || fail "lines.txt does not have 300000 lines"
head -n 200000 "$D/lines.txt" > "$D/lines200k.txt"
# 2000 fixed-string patterns for grep -F
awk 'NR % 150 == 0 { print $1 }' "$D/lines.txt" | head -n 2000 > "$D/patterns.txt"
say "inputs: lines.txt $(wc -c < "$D/lines.txt" | tr -d ' ') bytes; library: $STRATA_LIB"

# --- sort ---------------------------------------------------------------------
run_pair sort "$D/lines.txt" sort
run_pair sort_keys - sort -t ' ' -k2,2n -k1,1r "$D/lines.txt"
run_pair sort_unique - sort -u -k4,4 -k1,1 "$D/lines.txt"
mkdir "$D/sorttmp"
run_pair sort_parallel - sort --parallel=2 -S 1M -T "$D/sorttmp" -k3,3nr "$D/lines.txt"
expect_in "$D/sort.plain.out" "x"

# --- seq ------------------------------------------------------------------------
run_pair seq - seq 1 3 1000000
run_pair seq_float - seq -f '%.4f' -s , 0 0.0007 70
run_pair seq_wide - seq -w 99999999999999999990 100000000000000000010

# --- awk (every implementation installed) -----------------------------------------
AWKPROG='{ s[$2 % 1000] += $3; c[$4]++; w[$1] = w[$1] substr($1, 1, 1); tot += $2; n++ }
END {
  for (k = 0; k < 1000; k++) printf "%d %d\n", k, s[k]
  for (k = 0; k < 97; k++) { key = sprintf("x%02d", k); printf "%s %d\n", key, c[key] }
  m = 0; for (k in w) { m += length(w[k]) }
  printf "total %d lines %d wsum %d\n", tot, n, m
}'
seen=
for a in gawk mawk original-awk awk; do
  path=$(command -v "$a" 2>/dev/null) || continue
  path=$(readlink -f "$path")
  case " $seen " in *" $path "*) continue ;; esac   # awk is usually gawk or mawk
  seen="$seen $path"
  run_pair "$a" - "$a" "$AWKPROG" "$D/lines200k.txt"
  expect_in "$D/$a.plain.out" "lines 200000"
  run_pair "${a}_split" - "$a" '{ n = split($0, f, /[aeiou ]/); t += n; g = $0; gsub(/[0-9]+/, "<&>", g); u[substr(g, 1, 6)]++ }
    END { k = 0; for (x in u) k++; print t, k }' "$D/lines200k.txt"
done

# --- grep -------------------------------------------------------------------------
run_pair grep_c - grep -c -E '(ab|cd)+e|x[1-3][0-9]$' "$D/lines.txt"
run_pair grep_ci - grep -c -i -v 'Q' "$D/lines.txt"
run_pair grep_F - grep -c -F -f "$D/patterns.txt" "$D/lines.txt"
run_pair grep_o - grep -o -E '[a-z]{8,}' "$D/lines200k.txt"

# --- tar ------------------------------------------------------------------------------
T=$D/tree
i=0
while [ $i -lt 12 ]; do
  mkdir -p "$T/dir$i/sub$((i % 3))"
  head -c $(( (i * 7919) % 40000 + 1 )) "$D/lines.txt" > "$T/dir$i/file$i.txt"
  sed -n "$((i * 1000 + 1)),$((i * 1000 + 500))p" "$D/lines.txt" > "$T/dir$i/sub$((i % 3))/part$i"
  : > "$T/dir$i/empty$i"
  ln -s "file$i.txt" "$T/dir$i/link$i"
  i=$((i + 1))
done
cp "$D/lines.txt" "$T/big.txt"
TAROPTS="--sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu"
# shellcheck disable=SC2086
run_pair tar_create - tar $TAROPTS -cf - -C "$T" .
cp "$D/tar_create.plain.out" "$D/tree.tar"
run_pair tar_list - tar -tvf "$D/tree.tar"
expect_in "$D/tar_list.plain.out" "./dir11/sub2/part11"
REAL_BETWEEN='mv "$D/x" "$D/x.plain"'
run_pair tar_extract - sh -c 'mkdir "$1/x" && tar -xf "$1/tree.tar" -C "$1/x" && cd "$1/x" && find . | sort && find . -type f | sort | xargs md5sum' sh "$D"
REAL_BETWEEN=
expect_in "$D/tar_extract.plain.out" "./big.txt"
run_pair tar_gz - tar $TAROPTS -czf - -C "$T" .

# --- gzip | gunzip ------------------------------------------------------------------------
run_pair gzip - gzip -n -9 -c "$D/lines.txt"
run_pair gzip_pipe - bash -o pipefail -c 'gzip -n -c -1 < "$1" | gunzip -c | md5sum' bash "$D/lines.txt"
[ "$(cat "$D/gzip_pipe.strata.out")" = "$(md5sum < "$D/lines.txt")" ] \
  || fail "gzip -c | gunzip -c under LD_PRELOAD did not give back the input"
run_pair gunzip - gunzip -c "$D/gzip.plain.out"
cmp -s "$D/gunzip.strata.out" "$D/lines.txt" || fail "gunzip under LD_PRELOAD did not give back the input"

summary
