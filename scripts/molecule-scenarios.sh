#!/usr/bin/env bash
# Every molecule scenario, as `make molecule` runs them: the first in the
# foreground (its output live), the others at the same time beside it, each into
# its own log (.molecule-<s>.log), printed whole once it ends. The scenarios share
# nothing (their own containers, network and molecule state) and spend most of
# their time waiting on SSH and on the servers, so side by side on two cores they
# take about as long as the longest. When one fails, its failed tasks and tests
# are printed last, where CI's view of the output ends. Each one's time is
# appended to $TIMES.
#   scripts/molecule-scenarios.sh PYTHON SCENARIO [SCENARIO ...]
set -uo pipefail
py=$1; shift
first=$1; shift
times=${TIMES:-/dev/null}
declare -A pids
for s in "$@"; do
  (
    t=$(date +%s)
    molecule test -s "$s" > ".molecule-$s.log" 2>&1
    rc=$?
    echo "  molecule $s (beside $first): $(( $(date +%s) - t )) s" >> "$times"
    exit $rc
  ) &
  pids[$s]=$!
done
t=$(date +%s)
molecule test -s "$first" 2>&1 | tee ".molecule-$first.log"
rc=$?
echo "  molecule $first: $(( $(date +%s) - t )) s" >> "$times"
failed=()
[ $rc = 0 ] || failed+=("$first")
for s in "$@"; do
  wait "${pids[$s]}" || failed+=("$s")
  echo; echo "# molecule scenario $s (run beside $first): its log"
  cat ".molecule-$s.log"
done
for s in "${failed[@]}"; do
  "$py" -m redis_tuned_dev.failures ".molecule-$s.log"
done
[ ${#failed[@]} = 0 ]
