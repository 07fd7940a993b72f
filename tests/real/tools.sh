#!/bin/sh
# Real programs: perl (a hash of 60000 strings, sorting, regexes), git
# (log --stat over a 60-commit repository it makes here with fixed dates,
# grep and repack with two threads) and xz with two threads each way.
# Each is run plainly and preloaded; identical output and exit status 0
# required.  Added in stop 30 after a sweep of fifteen programs under five
# option sets (default, secure, guard_sample=1, both, purge_ms=0) found
# nothing.
. "$(dirname "$0")/data/common.sh"

for p in perl git xz md5sum awk; do
  command -v "$p" >/dev/null 2>&1 || fail "$p not found (apt-get install perl git xz-utils)"
done
export LC_ALL=C
D=$REAL_TMP

# --- perl -----------------------------------------------------------------------
run_pair perl_hash - perl -e '
  my %h; my $s = 42;
  for my $i (1 .. 60000) { $s = ($s * 1103515245 + 12345) % 2147483648; $h{"k$s"} = "v" x ($s % 300); }
  my $n = 0; $n += length($h{$_}) for keys %h;
  my @top = (sort { length($h{$b}) <=> length($h{$a}) || $a cmp $b } keys %h)[0 .. 4];
  my $m = grep { /^k1[0-9]*7$/ } keys %h;
  delete $h{$_} for grep { length($h{$_}) % 3 == 0 } keys %h;
  print scalar(keys %h), " $n $m @top\n";'
expect_in "$D/perl_hash.plain.out" " k"

# --- git --------------------------------------------------------------------------
G=$D/repo
mkdir "$G" || fail "mkdir $G"
(
  cd "$G" && git init -q && git config user.email t@example.org && git config user.name t \
    && git config commit.gpgsign false || exit 1
  c=1
  while [ $c -le 60 ]; do
    awk -v c=$c 'BEGIN { for (i = 0; i < 400; i++) printf "line %d of commit %d word%d\n", i, c, (i * c) % 97 }' \
      >> "file$((c % 13)).txt" || exit 1
    d=$(printf '2026-01-01T01:%02d:%02dZ' $((c / 60)) $((c % 60)))
    git add -A && GIT_AUTHOR_DATE=$d GIT_COMMITTER_DATE=$d git commit -q -m "commit $c" || exit 1
    c=$((c + 1))
  done
) || fail "making the git repository failed"
run_pair git_log - git -C "$G" log --stat --format='%s %ad' --date=iso
expect_in "$D/git_log.plain.out" "commit 60"
run_pair git_grep - git -C "$G" grep -c --threads=2 -e 'word4[0-9]' -e 'commit 3'
run_pair git_gc - sh -c 'cd "$1" && git repack -q -a -d -f --threads=2 && git count-objects -v | grep -v size' sh "$G"

# --- xz, two threads ----------------------------------------------------------------
awk 'BEGIN { s = 7; for (i = 0; i < 400000; i++) { s = (s * 69069 + 1) % 4294967296; printf "%08x %d\n", s, i } }' \
  > "$D/x.txt" || fail "making x.txt failed"
run_pair xz_pipe - sh -c 'xz -T2 -1 -c "$1" | xz -d -T2 -c | md5sum' sh "$D/x.txt"
[ "$(cat "$D/xz_pipe.strata.out")" = "$(md5sum < "$D/x.txt")" ] \
  || fail "xz | xz -d under LD_PRELOAD did not give back the input"

summary
