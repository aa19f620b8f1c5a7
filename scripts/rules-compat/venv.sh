#!/usr/bin/env bash
# Creates the Python virtualenv (.venv in the checkout, or $VENV) with the pinned tools of
# requirements-dev.txt (panther-analysis-tool, panther-core) from PyPI, or brings an existing
# one up to date. Does nothing when the venv already holds exactly that requirements file.
#
#   PYTHON   interpreter to build the venv from (default python3; 3.11 or newer, as pat needs)
#   VENV     where the venv goes (default <checkout>/.venv)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-python3}
venv=${VENV:-$root/.venv}
requirements=$root/requirements-dev.txt
stamp=$venv/.requirements-dev.sha256

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -x $venv/bin/python && -f $stamp && $(<"$stamp") == "$want" ]] \
  && "$venv/bin/python" -c '' 2>/dev/null; then
  exit 0
fi

started=$SECONDS
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "venv: $python is $("$python" --version 2>&1 || echo missing); panther-analysis-tool needs Python 3.11 or newer (set PYTHON=...)" >&2
  exit 1
fi

if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c '' 2>/dev/null; then
  echo "venv: updating $venv to requirements-dev.txt" >&2
else
  # Absent, or its interpreter is gone (e.g. the Python it was made from was removed).
  echo "venv: creating $venv with $("$python" --version 2>&1)" >&2
  "$python" -m venv --clear "$venv"
fi

# Pinned versions, dependencies included; pip resolves them against each other as a check.
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet -r "$requirements"
"$venv/bin/pat" --version >&2
echo "$want" >"$stamp"
echo "venv: ready in $((SECONDS - started))s" >&2
