#!/usr/bin/env bash
# Runs the suite; pytest's exit code 5 ("no tests collected") is reported, not hidden.
set -u
py="$1"; shift
"$py" -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests" >&2
fi
exit "$rc"
