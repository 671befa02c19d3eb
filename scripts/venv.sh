#!/usr/bin/env bash
# Creates (or refreshes) one of the project's virtual environments and prints nothing else
# but progress. Usage: scripts/venv.sh oss|pro
#   oss → .venv      Python 3.10 + Rasa Open Source 3.6.21 (Rasa 3.6 needs Python 3.8–3.10)
#   pro → .venv-pro  Python 3.11+ + Rasa Pro 3.21 (channel tests need no licence)
set -euo pipefail
cd "$(dirname "$0")/.."

line="${1:-oss}"
case "$line" in
  oss) dir=.venv; wanted="3.10"; extras=".[rasa,dev]" ;;
  pro) dir=.venv-pro; wanted="3.11"; extras=".[rasa-pro,dev]" ;;
  *) echo "usage: $0 oss|pro" >&2; exit 2 ;;
esac

works() { "$1" -c 'import sys, venv' >/dev/null 2>&1; }

find_python() {
  local version="$1" candidate root
  candidate=$(command -v "python$version" 2>/dev/null || true)
  if [ -n "$candidate" ] && works "$candidate"; then echo "$candidate"; return 0; fi
  if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
    for candidate in $(ls -d "$root/versions/$version".* 2>/dev/null | sort -V -r); do
      if works "$candidate/bin/python$version"; then echo "$candidate/bin/python$version"; return 0; fi
    done
  fi
  return 1
}

stamp="$dir/.installed"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi

if [ ! -x "$dir/bin/python" ]; then
  if ! python=$(find_python "$wanted"); then
    if [ "$line" = oss ]; then
      echo "Rasa Open Source 3.6 needs Python 3.10, and none was found (looked for python3.10" >&2
      echo "on PATH and in pyenv). Install it, e.g. 'pyenv install 3.10' or your system's" >&2
      echo "python3.10 and python3.10-venv packages, then run this again." >&2
    else
      echo "Rasa Pro 3.21 needs Python 3.11, and none was found (looked for python3.11 on PATH" >&2
      echo "and in pyenv). Install it, e.g. 'pyenv install 3.11', then run this again." >&2
    fi
    exit 1
  fi
  echo "Creating $dir with $("$python" --version) ($python)"
  "$python" -m venv "$dir"
fi

echo "Installing rasa-imessage with $extras into $dir (the first time takes a few minutes)"
start=$(date +%s)
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23.2"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check -e "$extras"
touch "$stamp"
echo "Installed in $(( $(date +%s) - start )) s"
