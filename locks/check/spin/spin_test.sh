#!/usr/bin/env bash
# Exhaustive SPIN searches of mutex.pml (README.md): the model must pass, and
# each mutant (a fixed bug put back, one -D each) must fail with a trail.
set -uo pipefail

die() { echo "FAIL: $*" >&2; exit 1; }

command -v spin > /dev/null ||
  die "spin is not installed (Debian: apt-get install spin); this test needs it"
command -v cc > /dev/null || die "no C compiler (cc) to build SPIN's verifier"

model="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-.}/locks/check/spin/mutex.pml"
[[ -f "$model" ]] || model="$(dirname "$0")/mutex.pml"
[[ -f "$model" ]] || die "mutex.pml not found"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/spin.XXXXXX")"
cp "$model" "$work/mutex.pml"
cd "$work" || die "cd $work"

# search NAME EXPECT DEFINES...: spin -a, cc, pan; EXPECT is pass or fail.
# Safety search (-DSAFETY: assertions and invalid end states), exhaustive (no
# bitstate, no compression); -DMEMLIM caps it at 2 GB, pan says if it stopped
# short and that fails the test.
failures=0
search() {
  local name="$1" expect="$2"; shift 2
  rm -rf "$name" && mkdir "$name" && cp mutex.pml "$name/" && cd "$name" || die "cd $name"
  local start=$SECONDS
  if ! spin "$@" -a mutex.pml > spin.log 2>&1; then
    cat spin.log; die "$name: spin -a failed"
  fi
  local opt=-O2
  [[ "$expect" == fail ]] && opt=-O0  # the search stops at the first error
  cc "$opt" -DSAFETY -DMEMLIM=2048 -w -o pan pan.c || die "$name: cc pan.c failed"
  ./pan -m200000 -w24 > pan.log 2>&1
  local errors states transitions
  errors=$(sed -nE 's/.*errors: ([0-9]+).*/\1/p' pan.log)
  states=$(sed -nE 's/^ *([0-9.e+]+) states, stored.*/\1/p' pan.log)
  transitions=$(sed -nE 's/^ *([0-9.e+]+) transitions.*/\1/p' pan.log)
  printf '%-28s %-4s errors: %s, %s states stored, %s transitions, %ds\n' \
    "$name" "$expect" "${errors:-?}" "${states:-?}" "${transitions:-?}" $((SECONDS - start))
  if [[ -z "$errors" ]]; then
    cat pan.log; echo "FAIL: $name: no result from pan"; failures=$((failures + 1))
  elif [[ "$expect" == pass && "$errors" != 0 ]]; then
    echo "FAIL: $name: expected no errors"; trail "$@"; failures=$((failures + 1))
  # (A failing search stops at its first error: "not completed" is expected.)
  elif [[ "$expect" == pass ]] &&
       grep -qE 'max search depth too small|reached -DMEMLIM|out of memory|Search not completed' pan.log; then
    grep -E 'max search depth|MEMLIM|memory|not completed' pan.log
    echo "FAIL: $name: the search did not complete"; failures=$((failures + 1))
  elif [[ "$expect" == pass && "${states%%.*}" -lt 1000000 ]]; then
    # A model cut short (a slip that makes most of it unreachable) would
    # pass vacuously: both passing searches store over 3 million states.
    echo "FAIL: $name: only $states states: the model is cut short"; failures=$((failures + 1))
  elif [[ "$expect" == fail && "$errors" == 0 ]]; then
    echo "FAIL: $name: the mutant passed"; failures=$((failures + 1))
  elif [[ "$expect" == fail && ! -s mutex.pml.trail ]]; then
    echo "FAIL: $name: no trail"; failures=$((failures + 1))
  elif [[ "$expect" == fail ]]; then
    trail "$@"
  fi
  cd ..
}

# The error and its trail: each step that wrote the word or the futex
# queue (locker, the model's label, the statement, the word after it as
# L W S N), then the final state.
trail() {
  grep -E '^pan:[0-9]+:' pan.log | sed 's/^/  /'
  spin "$@" -t -p -g mutex.pml 2> /dev/null | awk '
    FNR == NR { if ($0 ~ /^[A-Z_]+:$/) label = substr($0, 1, length($0) - 1); at[FNR] = label; next }
    match($0, /^ *[0-9]+:\tproc +[0-9]+ \(Locker:1\) mutex.pml:[0-9]+ .*\[(word = |asleep\[[a-z0-9]+\] = )/) {
      split($0, f, /[ :\t]+/); n = 0
      for (i = 1; i <= length(f); i++) if (f[i] != "") g[++n] = f[i]
      line = $0; sub(/.*mutex.pml:/, "", line); sub(/ .*/, "", line)
      stmt = $0; sub(/.*\t\[/, "", stmt); sub(/\]$/, "", stmt)
      pending = sprintf("  #%-4s locker %d %-13s %-22s", g[1], g[3] - 1, at[line], stmt)
      if (stmt ~ /^asleep/) { print pending; pending = "" }
      next
    }
    pending != "" && /^\t\tword = / {
      v = $3 + 0
      printf "%s word %5d (L%d W%d S%d N%d)\n", pending, v, v % 2, int(v / 2) % 2, int(v / 4) % 256, int(v / 1024)
      pending = ""
    }
    /^spin: trail ends/ { print "  " $0; final = 1; next }
    final && /^\t\t(word|asleep)/ { sub(/^\t\t/, "    "); print }
  ' mutex.pml - | tail -45
}

# Each search in the background (two at a time: CI has two cores), its
# report printed in order; a search that failed leaves a FAILED file.
run() {
  local name="$1"
  ( (search "$@" && [[ "$failures" == 0 ]]) > "$name.report" 2>&1 || touch "$name.FAILED" ) &
}
# The model: 3 lockers x 2 acquisitions, one may give up each time, one
# spurious futex return.
run model pass
# The same with every load its own step (as the C++ checker schedules
# them): checks the merging of loads into their CAS loops (mutex.pml).
run model_stepwise_1iter pass -DSTEPWISE -DITERS=1
wait
run mutant_registration_keeps_w fail -DMUT_REGISTRATION_KEEPS_W
run mutant_starving_wake_keeps_w fail -DMUT_STARVING_WAKE_KEEPS_W
wait
run mutant_leave_drops_wake fail -DMUT_LEAVE_DROPS_WAKE
wait
for name in model model_stepwise_1iter mutant_registration_keeps_w \
            mutant_starving_wake_keeps_w mutant_leave_drops_wake; do
  cat "$name.report"
  [[ -f "$name.FAILED" ]] && failures=$((failures + 1))
done

if [[ "$failures" != 0 ]]; then
  echo "$failures search(es) failed"
  exit 1
fi
echo "PASS: the model passes, every mutant fails"
