#!/bin/sh
# STRATA_OPTIONS (src/malloc/options.c): a bad name or value is reported on
# stderr -- naming the option and saying it was ignored or that the default
# was kept -- and otherwise changes nothing: the program runs as always, its
# output is intact, its exit status is 0, and every option keeps its
# default.  Good values take effect.
#
# The program is a small C probe compiled here without strata and run with
# LD_PRELOAD=$STRATA_LIB: it mallocs (small and large), prints "ok" and the
# value of each option named on its command line as strata_option_get sees
# it (looked up with dlsym, which also proves the preload took effect), and
# exits 0.  A few cases also run `sh -c 'echo ok'`, a program that is not
# ours.  Asserted:
#  1. bad settings (unknown name, malformed / out-of-range / empty values,
#     a size with a bad suffix, empty list entries, a very long value,
#     `report` without a file name -- which must not write a file "1"): exit
#     0, stdout exactly as without STRATA_OPTIONS, one message per bad entry
#     on stderr that names the option and says "ignored" or "N kept" (the value before),
#     every option at its default except the good entries of the same list;
#  2. good settings: stats=1 prints a "strata 0.1 statistics" block at exit,
#     stats=2 one JSON object line (valid JSON, checked with python3 when it
#     exists), hard_limit=1g / thp=0:purge_ms=0 (':' and ' ' separators) are
#     accepted silently and read back, verbose=1,soft_limit=100m prints the
#     limits line;
#  3. the options named in README's options table and the options strata
#     knows (its "known options" list) are the same set.
set -u
B=${STRATA_BUILD:-build}
if [ -z "${STRATA_LIB:-}" ]; then STRATA_LIB=$(cd "$B" && pwd)/libstrata.so; fi
[ -f "$STRATA_LIB" ] || { echo "FAIL: $STRATA_LIB not built"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/strata-options-test.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
unset STRATA_OPTIONS LD_PRELOAD 2>/dev/null || true
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
show() { echo "---- $1:"; sed 's/^/    /' "$1"; }

ALL="verbose stats abort_on_error thp purge_ms purge_thread soft_limit hard_limit"
# defaults, as in the table of src/malloc/options.c
DEFAULTS="verbose=0 stats=0 abort_on_error=1 thp=1 purge_ms=250 purge_thread=1 soft_limit=-1 hard_limit=0"

cat > "$T/probe.c" <<'C'
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  long (*get)(const char *) = (long (*)(const char *))dlsym(RTLD_DEFAULT, "strata_option_get");
  if (get == NULL) { fprintf(stderr, "probe: strata_option_get not found: not preloaded\n"); return 3; }
  char *p = malloc(100);
  char *big = malloc(3 << 20);                /* a large block too */
  if (p == NULL || big == NULL) { fprintf(stderr, "probe: malloc failed\n"); return 4; }
  strcpy(p, "ok");
  memset(big, 7, 3 << 20);
  printf("%s", p);
  for (int i = 1; i < argc; i++) printf(" %s=%ld", argv[i], get(argv[i]));
  printf("\n");
  free(big);
  free(p);
  return 0;
}
C
${CC:-cc} -O1 -o "$T/probe" "$T/probe.c" -ldl 2> "$T/cc.err" || { cat "$T/cc.err"; echo "FAIL: cannot build the probe"; exit 1; }

# under OPTIONS PROGRAM ARGS...: run PROGRAM with LD_PRELOAD and
# STRATA_OPTIONS=OPTIONS (left unset when OPTIONS is the word UNSET), and
# only PROGRAM: the sh and timeout around it must not load strata, or their
# own start-up would print the messages too.
under() {
  timeout 30 sh -c 'if [ "$1" != UNSET ]; then STRATA_OPTIONS=$1; export STRATA_OPTIONS; fi
    LD_PRELOAD=$2; export LD_PRELOAD; shift 2; exec "$@"' sh "$@"
}
# run OPTIONS: the probe under OPTIONS; sets rc, out ($T/out) and err ($T/err).
run() {
  under "$1" "$STRATA_LIB" "$T/probe" $ALL > "$T/out" 2> "$T/err"
  rc=$?
}
# expect_values NAME=VALUE...: the probe's stdout, with DEFAULTS overridden
expect_values() {
  want="ok"
  for d in $DEFAULTS; do
    n=${d%%=*} v=${d#*=}
    for o in "$@"; do [ "${o%%=*}" = "$n" ] && v=${o#*=}; done
    want="$want $n=$v"
  done
  echo "$want"
}
# check_run WHAT EXPECTED-STDOUT: exit 0 and stdout intact
check_run() {
  [ "$rc" -eq 0 ] || { show "$T/err"; fail "$1: exit status $rc"; return 1; }
  got=$(cat "$T/out")
  [ "$got" = "$2" ] || { show "$T/err"; fail "$1: stdout '$got', expected '$2'"; return 1; }
  return 0
}
# has WHAT FIXED-STRING [COUNT]: stderr holds the string (exactly COUNT times if given)
has() {
  n=$(grep -cF -- "$2" "$T/err")
  if [ $# -ge 3 ]; then
    [ "$n" -eq "$3" ] || { show "$T/err"; fail "$1: stderr has '$2' $n times, expected $3"; }
  else
    [ "$n" -ge 1 ] || { show "$T/err"; fail "$1: stderr lacks '$2'"; }
  fi
}
hasnt() { if grep -qF -- "$2" "$T/err"; then show "$T/err"; fail "$1: stderr has '$2'"; fi; }
# quiet WHAT: stderr empty
quiet() { if [ -s "$T/err" ]; then show "$T/err"; fail "$1: unexpected stderr"; fi; }

# ---- 0. baseline ----------------------------------------------------------
run UNSET
check_run "no STRATA_OPTIONS" "$(expect_values)"
quiet "no STRATA_OPTIONS"
run ""
check_run "empty STRATA_OPTIONS" "$(expect_values)"
quiet "empty STRATA_OPTIONS"

# ---- 1. bad settings --------------------------------------------------------
# bad_value OPTIONS NAME SHOWN DEFAULT [GOOD=VALUE...]: one "bad value" message
# for NAME quoting SHOWN, saying the default is kept; the values read back
# are the defaults except the GOOD ones.
bad_value() {
  opts=$1 name=$2 shown=$3 def=$4; shift 4
  run "$opts"
  check_run "STRATA_OPTIONS=$opts" "$(expect_values "$@")" || return
  has "STRATA_OPTIONS=$opts" "strata: STRATA_OPTIONS: bad value '$shown' for '$name'" 1
  has "STRATA_OPTIONS=$opts" "$def kept" 1
  hasnt "STRATA_OPTIONS=$opts" "statistics"
  echo "ok: STRATA_OPTIONS=$opts: $(grep -F "for '$name'" "$T/err")"
}
bad_value "purge_ms=abc" purge_ms abc 250
bad_value "purge_ms=" purge_ms "" 250
bad_value "purge_ms=-5" purge_ms -5 250
bad_value "purge_ms=1e3" purge_ms 1e3 250
bad_value "purge_ms=3600001" purge_ms 3600001 250
bad_value "thp=7" thp 7 1
bad_value "thp=-1" thp -1 1
bad_value "thp=1x" thp 1x 1
bad_value "verbose=2" verbose 2 0
bad_value "abort_on_error=yes" abort_on_error yes 1
bad_value "hard_limit=12q" hard_limit 12q 0
bad_value "hard_limit=-1" hard_limit -1 0
bad_value "hard_limit=m" hard_limit m 0
bad_value "hard_limit=100000t" hard_limit 100000t 0
bad_value "hard_limit=99999999999999999999" hard_limit 99999999999999999999 0
bad_value "soft_limit=-2" soft_limit -2 -1
bad_value "soft_limit=1.5g" soft_limit 1.5g -1
# good entries around a bad one still apply (empty entries are skipped)
bad_value "thp=0,purge_ms=zz,purge_thread=0" purge_ms zz 250 thp=0 purge_thread=0
# the size message says what is accepted
run "hard_limit=12q"
has "hard_limit=12q" "expected a size, k/m/g/t suffix ok, 0..70368744177664"

# unknown names
for opts in "bogus=1" "bogus" "Stats=1" "hard-limit=1g"; do
  run "$opts"
  check_run "STRATA_OPTIONS=$opts" "$(expect_values)" || continue
  name=${opts%%=*}
  has "STRATA_OPTIONS=$opts" "strata: STRATA_OPTIONS: unknown option '$name' ignored" 1
  has "STRATA_OPTIONS=$opts" "strata: STRATA_OPTIONS: known options:" 1
  echo "ok: STRATA_OPTIONS=$opts: $(grep -F "unknown option" "$T/err")"
done

# a value without a name says so (it read "unknown option ''" before)
run "=5"
if check_run "STRATA_OPTIONS==5" "$(expect_values)"; then
  has "STRATA_OPTIONS==5" "strata: STRATA_OPTIONS: a value without an option name ('=5') ignored" 1
  hasnt "STRATA_OPTIONS==5" "unknown option ''"
  echo "ok: STRATA_OPTIONS==5: $(head -n 1 "$T/err")"
fi
# an unknown name of 100 bytes is cut in the message, and the cut shows
lname=$(printf '%0100d' 0 | tr 0 y)
run "$lname=1"
if check_run "a 100-byte unknown name" "$(expect_values)"; then
  has "a 100-byte unknown name" "unknown option '$(printf '%064d' 0 | tr 0 y)...' ignored" 1
  echo "ok: a 100-byte unknown name"
fi

# a size, time or count named alone needs a value (it read as 1: a 1-byte
# hard limit, every allocation failed, unreported); a switch alone is =1
for opts in "hard_limit" "purge_ms" "hard_limit = 5m"; do
  run "$opts"
  check_run "STRATA_OPTIONS=$opts" "$(expect_values)" || continue
  name=${opts%% *}
  has "STRATA_OPTIONS=$opts" "strata: STRATA_OPTIONS: '$name' needs a value ($name=...);" 1
  echo "ok: STRATA_OPTIONS=$opts: $(grep -F "needs a value" "$T/err")"
done
run "purge_thread=0,verbose"
check_run "STRATA_OPTIONS=purge_thread=0,verbose" "$(expect_values purge_thread=0 verbose=1)" &&
  hasnt "STRATA_OPTIONS=purge_thread=0,verbose" "needs a value" && echo "ok: a switch alone is =1"

# report= (a file name is required)
run "report="
check_run "STRATA_OPTIONS=report=" "$(expect_values)" && {
  has "STRATA_OPTIONS=report=" "strata: STRATA_OPTIONS: bad value for 'report'" 1
  has "STRATA_OPTIONS=report=" "ignored" 1
  echo "ok: STRATA_OPTIONS=report=: $(cat "$T/err")"
}

# stats=1,,,purge_ms=-5: the bad entry is reported, stats=1 still applies
run "stats=1,,,purge_ms=-5"
if check_run "STRATA_OPTIONS=stats=1,,,purge_ms=-5" "$(expect_values stats=1)"; then
  has "stats=1,,,purge_ms=-5" "bad value '-5' for 'purge_ms'" 1
  has "stats=1,,,purge_ms=-5" "250 kept" 1
  has "stats=1,,,purge_ms=-5" "strata 0.1 statistics" 1
  echo "ok: STRATA_OPTIONS=stats=1,,,purge_ms=-5"
fi

# several bad entries: one message each
run "bogus=1,thp=9,purge_ms=x,hard_limit=1z"
if check_run "several bad entries" "$(expect_values)"; then
  has "several bad entries" "unknown option 'bogus' ignored" 1
  has "several bad entries" "bad value '9' for 'thp'" 1
  has "several bad entries" "bad value 'x' for 'purge_ms'" 1
  has "several bad entries" "bad value '1z' for 'hard_limit'" 1
  echo "ok: several bad entries"
fi

# a long bad value (someone put a path into the wrong option): the message
# must still name the option, say the default was kept and end its line
long=$(printf '%0600d' 0 | tr 0 x)
run "purge_ms=$long"
if check_run "a 600-byte bad value" "$(expect_values)"; then
  what=""
  grep -qF "for 'purge_ms'" "$T/err" || what="$what, does not name 'purge_ms'"
  grep -qF "250 kept" "$T/err" || what="$what, does not say '250 kept'"
  [ "$(tail -c 1 "$T/err" | od -An -c | tr -d ' ')" = '\n' ] || what="$what, does not end with a newline"
  if [ -n "$what" ]; then
    fail "STRATA_OPTIONS=purge_ms=<600 x>: the message$what ($(wc -c < "$T/err") bytes on stderr, ends '...$(tail -c 40 "$T/err")')"
  else
    echo "ok: a 600-byte bad value"
  fi
fi

# 'report' without '=': a name alone means "=1" (for the 0/1 options); for
# report that is no file name: it must be reported, not write a file "1"
mkdir "$T/cwd"
(cd "$T/cwd" && under report "$STRATA_LIB" "$T/probe" $ALL > "$T/out" 2> "$T/err"); rc=$?
if check_run "STRATA_OPTIONS=report" "$(expect_values)"; then
  if [ -e "$T/cwd/1" ]; then
    fail "STRATA_OPTIONS=report (no value) silently wrote the exit report to a file named '1' in the current directory" \
         "(stderr: '$(cat "$T/err")')"
  else
    has "STRATA_OPTIONS=report" "for 'report'" 1
  fi
fi

# a program that is not ours: output and status intact
for opts in "bogus=1" "thp=7" "hard_limit=12q" "report=" "purge_ms=abc,stats=1,,,"; do
  out=$(under "$opts" "$STRATA_LIB" sh -c 'echo ok; exit 0' 2> "$T/err")
  rc=$?
  [ "$rc" -eq 0 ] && [ "$out" = ok ] || { show "$T/err"; fail "sh under STRATA_OPTIONS=$opts: exit $rc, output '$out'"; continue; }
  grep -q "strata: STRATA_OPTIONS: " "$T/err" || { show "$T/err"; fail "sh under STRATA_OPTIONS=$opts: no message"; }
done
echo "ok: sh -c 'echo ok' under bad options"

# ---- 2. good settings ---------------------------------------------------------
run "stats=1"
if check_run "stats=1" "$(expect_values stats=1)"; then
  has "stats=1" "strata 0.1 statistics" 1
  grep -q "^strata 0.1 statistics$" "$T/err" || { show "$T/err"; fail "stats=1: no line 'strata 0.1 statistics'"; }
  grep -q "^  memory  *resident" "$T/err" || { show "$T/err"; fail "stats=1: no memory line"; }
  hasnt "stats=1" "STRATA_OPTIONS"
  echo "ok: stats=1 prints the statistics block ($(wc -l < "$T/err") lines)"
fi

run "stats=2"
if check_run "stats=2" "$(expect_values stats=2)"; then
  n=$(grep -c '^{' "$T/err")
  [ "$n" -eq 1 ] || { show "$T/err"; fail "stats=2: $n lines start with '{', expected 1"; }
  [ "$(wc -l < "$T/err")" -eq 1 ] || { show "$T/err"; fail "stats=2: more than the JSON line on stderr"; }
  if command -v python3 > /dev/null 2>&1; then
    python3 -c '
import json, sys
line = open(sys.argv[1]).read().strip()
d = json.loads(line)
assert isinstance(d, dict), "not an object"
assert d["version"] == "0.1", d["version"]
for k in ("resident", "committed", "in_blocks", "hard_limit", "soft_limit", "limit_failures"):
    assert k in d, k
assert len(d["classes"]) == 88, len(d["classes"])
assert d["hard_limit"] == 0
' "$T/err" 2> "$T/py.err" || { show "$T/py.err"; show "$T/err"; fail "stats=2: not the expected JSON object"; }
    echo "ok: stats=2 prints one valid JSON object"
  else
    grep -q '^{"version":"0.1",.*}$' "$T/err" || fail "stats=2: not a JSON object line"
    echo "ok: stats=2 prints one JSON object line (python3 missing: not parsed)"
  fi
fi

run "hard_limit=1g"
check_run "hard_limit=1g" "$(expect_values hard_limit=1073741824)" && quiet "hard_limit=1g" && echo "ok: hard_limit=1g"
run "hard_limit=64M soft_limit=0"
check_run "hard_limit=64M soft_limit=0" "$(expect_values hard_limit=67108864 soft_limit=0)" && quiet "hard_limit=64M soft_limit=0"
run "thp=0:purge_ms=0 abort_on_error=0,purge_thread=0"
check_run "':' and ' ' separators" "$(expect_values thp=0 purge_ms=0 abort_on_error=0 purge_thread=0)" &&
  quiet "':' and ' ' separators" && echo "ok: ':' and ' ' separators"
run "stats=1,stats=0"
check_run "stats=1,stats=0 (the last wins)" "$(expect_values)" && quiet "stats=1,stats=0"
run "report=$T/rep"
check_run "report=FILE" "$(expect_values)" && { [ -s "$T/rep" ] || fail "report=$T/rep: no report written"; }

run "verbose=1,soft_limit=100m"
if check_run "verbose=1,soft_limit=100m" "$(expect_values verbose=1 soft_limit=104857600)"; then
  has "verbose=1,soft_limit=100m" "strata: limits: soft 104857600, hard 0 bytes" 1
  hasnt "verbose=1,soft_limit=100m" "STRATA_OPTIONS"
  echo "ok: verbose=1,soft_limit=100m: $(grep -F 'limits:' "$T/err")"
fi
run "verbose=1,hard_limit=1g"
check_run "verbose=1,hard_limit=1g" "$(expect_values verbose=1 hard_limit=1073741824)" &&
  has "verbose=1,hard_limit=1g" "hard 1073741824 bytes" 1

# ---- 3. README's table and strata's list agree ----------------------------------
run "bogus=1"
known=$(sed -n 's/^strata: STRATA_OPTIONS: known options: *//p' "$T/err" | tr ' ' '\n' | sort -u | tr '\n' ' ')
readme=$(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' README.md 2>/dev/null | sort -u | tr '\n' ' ')
if [ -z "$readme" ]; then
  echo "README.md options table not found (run from the repository root): skipped"
elif [ "$known" != "$readme" ]; then
  fail "README's options table ($readme) and strata's known options ($known) differ:" \
       "documented but unknown: $(for o in $readme; do case " $known " in *" $o "*) ;; *) printf '%s ' "$o";; esac; done)" \
       "- known but undocumented: $(for o in $known; do case " $readme " in *" $o "*) ;; *) printf '%s ' "$o";; esac; done)"
else
  echo "ok: README's options table lists exactly the known options"
fi

if [ "$fails" -ne 0 ]; then echo "options: $fails failure(s)"; exit 1; fi
echo "options: ok"
