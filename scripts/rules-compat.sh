#!/usr/bin/env bash
# Runs `corvid rules test` and Panther's `pat test` on the same detection corpora and diffs
# their per-test verdicts, printed as a table per corpus (issue 4, must-show 1).
#
#   scripts/rules-compat.sh [CORPUS_DIR...]
#
# Default corpora: rules/ and engine/tests/rule_corpus/{features,failing,broken}/ (each
# skipped, with a message, while it does not exist). panther-analysis-tool comes from PyPI at the version pinned in
# requirements-dev.txt, installed into .venv on first use (scripts/rules-compat/venv.sh).
# Exit status 0 only when every corpus that ran shows zero differences; non-zero on any
# difference, a test only one tool reports, or a tool that did not run to its summary.
# Raw outputs are kept under <target dir>/rules-compat/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
cd "$root"

venv=${VENV:-$root/.venv}
"$root/scripts/rules-compat/venv.sh"

# Same features as scripts/test.sh, so the suite builds the engine once.
${CARGO:-cargo} build --features corvid-engine/failpoints --bin corvid
corvid=$(target_dir)/debug/corvid
out_dir=$(target_dir)/rules-compat
mkdir -p "$out_dir"

if (($# > 0)); then
  corpora=("$@")
  optional=()
else
  # The feature corpus exercises every key and function; `failing` and `broken` hold
  # tests that must fail and detections that must not load, the same way on both sides.
  corpora=(rules engine/tests/rule_corpus/{features,failing,broken})
  optional=(engine/tests/rule_corpus/{features,failing,broken})
fi

# `corvid rules test DIR`, or `--path DIR` once the command takes pat's spelling.
corvid_path_args() {
  if "$corvid" rules test --help | grep -q -- '--path'; then
    printf '%s\n' --path "$1"
  else
    printf '%s\n' "$1"
  fi
}

# pat reads PANTHER_* variables as option defaults (filters, API host, ...): run it clean.
pat_env=(env PYTHONDONTWRITEBYTECODE=1)
while read -r name; do
  pat_env+=(-u "$name")
done < <(env | grep -o '^PANTHER_[A-Za-z0-9_]*' || true)

# Seconds since $1 (an $EPOCHREALTIME reading), with a tenth.
elapsed() {
  local now=${EPOCHREALTIME/./} then=${1/./}
  local tenths=$(((now - then) / 100000))
  echo "$((tenths / 10)).$((tenths % 10))"
}

status=0
ran=0
for corpus in "${corpora[@]}"; do
  corpus=${corpus%/}
  if [[ ! -d $corpus ]]; then
    if [[ " ${optional[*]-} " == *" $corpus "* ]]; then
      echo
      echo "== $corpus: SKIPPED, the directory does not exist (yet)"
      continue
    fi
    echo "rules-compat: $corpus is not a directory" >&2
    exit 2
  fi
  slug=${corpus//\//_}
  mkdir -p "$out_dir/$slug"
  o=$out_dir/$slug

  mapfile -t args < <(corvid_path_args "$corpus")
  started=$EPOCHREALTIME
  corvid_rc=0
  "$corvid" rules test "${args[@]}" >"$o/corvid.out" 2>"$o/corvid.err" || corvid_rc=$?
  corvid_secs=$(elapsed "$started")

  # --skip-version-check: no request to PyPI; no API token: no backend, everything local.
  started=$EPOCHREALTIME
  pat_rc=0
  "${pat_env[@]}" "$venv/bin/pat" --skip-version-check test --path "$corpus" \
    >"$o/pat.out" 2>"$o/pat.err" || pat_rc=$?
  pat_secs=$(elapsed "$started")

  echo
  "$venv/bin/python" "$root/scripts/rules-compat/compare.py" "$corpus" --cwd "$root" \
    --pat-out "$o/pat.out" --pat-err "$o/pat.err" \
    --corvid-out "$o/corvid.out" --corvid-err "$o/corvid.err" || status=1
  printf 'exit codes: pat %d, corvid %d; times: pat %ss, corvid %ss; raw output in %s\n' \
    "$pat_rc" "$corvid_rc" "$pat_secs" "$corvid_secs" "$o"
  if [[ $pat_rc != "$corvid_rc" ]]; then
    echo "exit codes differ"
    status=1
  fi
  ran=$((ran + 1))
done

echo
if ((status == 0)); then
  echo "rules-compat: $ran corpora, zero differences between pat and corvid"
else
  echo "rules-compat: DIFFERENCES between pat and corvid (see above)"
fi
exit "$status"
