#!/bin/sh
# `make analyze`: cppcheck and clang-tidy over src/ (library and tools).
#
# cppcheck: warning, portability and performance checks (style is left out:
# it is opinion, not defects), one preprocessor configuration (the gcc
# x86-64 Linux build strata supports).  clang-tidy: the checks in
# clang-tidy.yaml (the clang static analyzer and bugprone, with the reasons
# for what is left out), with the library's include paths.
# Both tools' findings are collected as "file:line: [check] message",
# findings listed in known.txt (false positives, each with its reason) are
# dropped, and anything left fails the run.  Compiler errors count as
# findings too (clang-tidy must be able to parse every file).
#
# Usage: sh tests/analyze/run.sh [files...]   (default: src/*/*.c)
# Needs cppcheck, clang-tidy and python3; ANALYZE_JOBS (default: nproc).
set -u
cd "$(dirname "$0")/../.."
A=tests/analyze
for t in cppcheck clang-tidy python3; do
  command -v "$t" >/dev/null 2>&1 || { echo "analyze: $t not found (apt-get install cppcheck clang-tidy)" >&2; exit 2; }
done
if [ $# -gt 0 ]; then files="$*"; all=0; else files=$(ls src/*/*.c); all=1; fi
jobs=${ANALYZE_JOBS:-$(nproc 2>/dev/null || echo 2)}
out=$(mktemp -d "${TMPDIR:-/tmp}/strata-analyze.XXXXXX") || exit 2
trap 'rm -rf "$out"' EXIT INT TERM

echo "analyze: cppcheck $(cppcheck --version | sed 's/^Cppcheck //') on $(echo $files | wc -w) files"
# shellcheck disable=SC2086
cppcheck --enable=warning,portability,performance --std=c11 --max-configs=1 \
  -D__GNUC__ -D__x86_64__ -D__linux__ -Iinclude -Isrc --inline-suppr -q -j "$jobs" \
  --template='{file}:{line}: [cppcheck-{id}] {severity}: {message}' $files 2> "$out/cppcheck.txt"
cc_rc=$?
[ $cc_rc -eq 0 ] || { echo "analyze: cppcheck failed to run (exit $cc_rc)" >&2; cat "$out/cppcheck.txt" >&2; exit 2; }

echo "analyze: $(clang-tidy --version | grep -i 'version' | head -n 1 | sed 's/^ *//') on the same files, $jobs at a time"
# One clang-tidy per file, in parallel; each writes its own log.
printf '%s\n' $files | xargs -P "$jobs" -I{} sh -c \
  'clang-tidy --quiet --config-file='"$A"'/clang-tidy.yaml "$1" -- -std=gnu11 -Iinclude -Isrc -pthread \
     > "$2/tidy.$(echo "$1" | tr / _).txt" 2>&1; exit 0' sh {} "$out"
cat "$out"/tidy.*.txt > "$out/tidy.txt" 2>/dev/null || : > "$out/tidy.txt"

ANALYZE_ALL=$all python3 - "$A/known.txt" "$out/cppcheck.txt" "$out/tidy.txt" <<'PY'
import os, re, sys
known = []
for ln in open(sys.argv[1]):
    ln = ln.rstrip("\n")
    if not ln.strip() or ln.lstrip().startswith("#"): continue
    f, chk, frag = ln.split(" ", 2)
    known.append((f, chk, frag))
root = os.getcwd() + "/"
found, dropped, used = [], 0, set()
def source_line(f, n):
    try:
        with open(f) as fp:
            for i, l in enumerate(fp, 1):
                if i == n: return l
    except OSError: pass
    return ""
for path in sys.argv[2:]:
    for ln in open(path, errors="replace"):
        m = re.match(r"(\S+?):(\d+):(?:\d+:)? (?:\[(\S+)\] (.*)|(?:warning|error): (.*) \[(\S+)\])$", ln.rstrip("\n"))
        if not m: continue
        f = m.group(1).replace(root, "")
        line = int(m.group(2))
        chk = m.group(3) or m.group(6)
        msg = m.group(4) or m.group(5)
        if chk == "cppcheck-missingIncludeSystem": continue
        src = source_line(f, line)
        hit = [k for k in known if k[0] == f and k[1] == chk and k[2] in src]
        if hit:
            dropped += 1; used.update(hit); continue
        item = "%s:%d: [%s] %s" % (f, line, chk, msg)
        if item not in found: found.append(item)
for item in found: print("  " + item)
stale = [k for k in known if k not in used] if os.environ.get("ANALYZE_ALL") == "1" else []
for k in stale: print("analyze: note: known.txt entry matched nothing (fixed? remove it): %s %s" % k[:2])
print("analyze: %d finding(s), %d known false positive(s) dropped" % (len(found), dropped))
sys.exit(1 if found else 0)
PY
