#!/usr/bin/env bash
# A long step that would otherwise be silent, with a line every PROGRESS_EVERY seconds (10) while it runs.
#
#   . hacking/progress.sh; progress LABEL TYPICAL cmd...     (hacking/venv.sh: the pip steps)
#   hacking/progress.sh LABEL TYPICAL cmd...                 (the Makefile: the Debian packages)
#
# A line when the step starts (LABEL and its TYPICAL duration), one every PROGRESS_EVERY seconds while it runs,
# one when it ends. The step's own output is kept aside and shown only when it fails (its exit status is kept).

_progress_say() { echo "$*" >&2; }

progress() {
  local label=$1 typical=$2 log start pid next status=0 every=${PROGRESS_EVERY:-10}
  shift 2
  log=$(mktemp)
  _progress_say "$label ($typical) ..."
  start=$SECONDS
  "$@" >"$log" 2>&1 &
  pid=$!
  next=$every
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ $((SECONDS - start)) -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
      _progress_say "  ... still working ($((SECONDS - start)) s)"
      next=$((next + every))
    fi
  done
  wait "$pid" || status=$?
  if [ "$status" -ne 0 ]; then
    _progress_say "That failed (exit status $status) after $((SECONDS - start)) s; its last lines:"
    tail -n 30 "$log" >&2
    rm -f "$log"
    exit "$status"
  fi
  rm -f "$log"
  _progress_say "  done in $((SECONDS - start)) s"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  progress "$@"
fi
