#!/usr/bin/env bash
# Makes ci/bench/.venv with the reference client the benchmark compares against (kazoo, from PyPI).
# Idempotent: an existing venv with kazoo is kept.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv="$here/.venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import kazoo' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet 'kazoo==2.11.0'
