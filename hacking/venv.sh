#!/usr/bin/env bash
# The Python check and the virtual environment, before anything else `make` does.
#
#   hacking/venv.sh demo VENV         a venv for `make demo`/`make lab`: the newest ansible-core release of
#                                     hacking/ansible-core-versions.txt that supports a Python found here,
#                                     with requirements-demo.txt
#   hacking/venv.sh test VENV check   the venv for `make install`/`make test` (the newest release, whose
#                                     Python it needs), nothing installed yet
#   hacking/venv.sh test VENV         the same with requirements-test.txt (and the Kerberos extra's wheels)
#
# Installs only what is missing or older than the requirement files (stamps $VENV/.demo-installed and
# $VENV/.installed), with a progress line for each long step. Says which Python and release it chose,
# and why. A Python too old (or too new) for every release listed gets one sentence and
# exit status 2 within a second: no pip run, no venv. A venv whose Python no longer runs, or that cannot
# run the release wanted, is removed and made again (it is never reused half broken).
# PYTHON=/path/to/python3.x names the interpreter; otherwise pyenv's versions, then python3.N and python3
# on PATH are tried, newest first.
set -euo pipefail

mode=${1:?usage: venv.sh demo|test VENV [check]}
venv=${2:?usage: venv.sh demo|test VENV [check]}
action=${3:-install}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
table="$here/ansible-core-versions.txt"

say() { echo "$*" >&2; }

# "2.21.5 3.12 3.13" lines, comments dropped.
mapfile -t releases < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$table")
[ "${#releases[@]}" -gt 0 ] || { say "hacking/ansible-core-versions.txt lists no ansible-core release"; exit 2; }
if [ "$mode" = test ]; then releases=("${releases[0]}"); fi

# The X.Y of an interpreter, or nothing when it does not run (pyenv's shim for a missing version fails).
pyver() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null </dev/null || true; }

# For a Python X.Y: "<release> <X.Y>" of the newest release that supports it, or nothing.
release_for() {
  local line
  for line in "${releases[@]}"; do
    read -r -a f <<<"$line"
    local p
    for p in "${f[@]:1}"; do [ "$p" != "$1" ] || { echo "${f[0]}"; return 0; }; done
  done
  return 0
}

supported() {
  local line all=()
  for line in "${releases[@]}"; do read -r -a f <<<"$line"; all+=("${f[@]:1}"); done
  # "3.10 to 3.13"
  printf '%s\n' "${all[@]}" | sort -uV | sed -n '1p;$p' | paste -sd' ' | sed 's/ / to /'
}

describe() {  # "3.11.7 (/path)"
  "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null </dev/null
}

# progress LABEL TYPICAL cmd...: hacking/progress.sh (a line every 10 s while a long step runs)
# shellcheck source=hacking/progress.sh
. "$here/progress.sh"

# True when the stamp exists and is newer than every file given.
fresh() {
  local stamp=$1 f
  shift
  [ -e "$stamp" ] || return 1
  for f in "$@"; do [ "$stamp" -nt "$root/$f" ] || return 1; done
}

pip_install() { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }

install() {
  local core=$1 table_file=hacking/ansible-core-versions.txt
  [ "$action" = install ] || return 0
  cd "$root"
  if [ "$mode" = demo ]; then
    fresh "$venv/.demo-installed" requirements.txt requirements-demo.txt "$table_file" && return 0
    progress "Installing ansible-core $core, the modules' runtime and the lab (requirements-demo.txt) into $venv" \
      "about 20 s" pip_install -r requirements-demo.txt "ansible-core==$core"
    touch "$venv/.demo-installed"
    return 0
  fi
  fresh "$venv/.installed" requirements.txt requirements-demo.txt requirements-kerberos.txt requirements-test.txt "$table_file" && return 0
  # The Kerberos extra's gssapi and krb5 have no Linux wheels: both are built at once (two cores), without
  # optimisation (KERBEROS_CFLAGS: the wrappers only pass calls to libkrb5, their speed does not matter),
  # then installed from those wheels. pip caches built wheels, so this costs once per machine.
  local wheels
  wheels=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$wheels'" EXIT
  progress "Building the Kerberos extra's gssapi and krb5 wheels" "about 35 s the first time on a machine, then cached" \
    build_kerberos_wheels "$wheels"
  progress "Installing ansible-core $core and the test tools (requirements-test.txt) into $venv" \
    "about 60 s cold" pip_install --find-links "$wheels" -r requirements-test.txt "ansible-core==$core"
  touch "$venv/.installed" "$venv/.demo-installed"
}

build_kerberos_wheels() {
  local pids=() req pid status=0
  for req in $(grep -E '^(gssapi|krb5)==' requirements-kerberos.txt); do
    CFLAGS="${KERBEROS_CFLAGS:--O0 -g0}" "$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$1" "$req" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
  return "$status"
}

# 1. An existing venv: reused when its Python runs and can run the release wanted.
if [ -e "$venv/bin/python" ] || [ -d "$venv" ]; then
  v=$(pyver "$venv/bin/python")
  core=""
  [ -z "$v" ] || core=$(release_for "$v")
  if [ -n "$core" ]; then
    if [ "$mode" = demo ] && [ "$(cat "$venv/.ansible-core" 2>/dev/null || true)" != "$core" ]; then
      rm -f "$venv/.demo-installed" "$venv/.installed"   # installed for another release: install again
    fi
    echo "$core" >"$venv/.ansible-core.new.$$" && mv "$venv/.ansible-core.new.$$" "$venv/.ansible-core"  # $$: two makes at once
    install "$core"
    exit 0
  fi
  if [ -z "$v" ]; then
    say "$venv is broken (its Python does not run): removing it and making it again."
  else
    say "$venv has Python $v, which ansible-core ${releases[0]%% *} cannot run: removing it and making it again."
  fi
  rm -rf "$venv"
fi

# 2. Find an interpreter.
candidates=()
if [ -n "${PYTHON:-}" ]; then
  candidates=("$PYTHON")
else
  pyenv_root=$(pyenv root 2>/dev/null || true)
  if [ -n "$pyenv_root" ] && [ -d "$pyenv_root/versions" ]; then
    while IFS= read -r p; do candidates+=("$p"); done < <(ls -d "$pyenv_root"/versions/3.*/bin/python3 2>/dev/null | sort -rV)
  fi
  for n in python3.14 python3.13 python3.12 python3.11 python3.10 python3; do
    p=$(command -v "$n" 2>/dev/null || true)
    [ -z "$p" ] || candidates+=("$p")
  done
fi

# For each release (newest first), each Python it supports (preferred first), the first interpreter found.
found=()  # "X.Y path"
for p in "${candidates[@]}"; do
  v=$(pyver "$p")
  [ -z "$v" ] || found+=("$v $p")
done
chosen="" chosen_core=""
for line in "${releases[@]}"; do
  read -r -a f <<<"$line"
  for want in "${f[@]:1}"; do
    for entry in "${found[@]}"; do
      if [ "${entry%% *}" = "$want" ]; then chosen=${entry#* }; chosen_core=${f[0]}; break 3; fi
    done
  done
done

if [ -z "$chosen" ]; then
  seen=$(for e in "${found[@]}"; do echo "${e%% *}"; done | sort -uV | paste -sd, | sed 's/,/, /g')
  if [ "$mode" = test ]; then
    say "make install/test need Python $(supported) for ansible-core ${releases[0]%% *} and found ${seen:-no Python 3}; install one (pyenv install 3.12) or name it with PYTHON=/path/to/python3.12 (make demo runs on Python 3.11 too)."
  else
    say "make demo needs Python $(supported) (ansible-core ${releases[${#releases[@]}-1]%% *} or newer) and found ${seen:-no Python 3}; install one (pyenv install 3.12) or name it with PYTHON=/path/to/python3.12."
  fi
  exit 2
fi

newest=${releases[0]%% *}
if [ "$chosen_core" = "$newest" ]; then
  say "Using Python $(describe "$chosen") ($chosen) with ansible-core $chosen_core."
else
  read -r -a f <<<"${releases[0]}"
  say "Using Python $(describe "$chosen") ($chosen) with ansible-core $chosen_core, the newest release that supports it (ansible-core $newest needs Python ${f[1]} or newer)."
fi
"$chosen" -m venv "$venv"
echo "$chosen_core" >"$venv/.ansible-core"
install "$chosen_core"
