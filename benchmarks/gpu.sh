#!/usr/bin/env bash
# The GPU run: the gpu-marked tests, then benchmarks/gpu.py into docs/results/gpu/ (at most
# about 8 minutes on one GPU). Run it from the repository root whenever a GPU machine is at
# hand, with the project's venv built:
#
#   bash benchmarks/gpu.sh                 # tests + figures -> docs/results/gpu/
#   bash benchmarks/gpu.sh --dry-run       # on a CPU machine: checks the script (tests skip,
#                                          # figures of tiny sizes into a temporary folder)
#   bash benchmarks/gpu.sh --dry-run --output DIR
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
DRY=0
OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --output) OUT="$2"; shift ;;
        *) echo "gpu.sh: unknown argument $1 (expected --dry-run, --output DIR)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z "${OUT}" ]]; then
    if [[ ${DRY} -eq 1 ]]; then OUT="$(mktemp -d)"; else OUT="docs/results/gpu"; fi
fi
mkdir -p "${OUT}"
start=$(date +%s)

echo "[gpu.sh] gpu-marked tests"
"${PY}" -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tee "${OUT}/tests.txt" | tail -3
tests_rc=${PIPESTATUS[0]}
# pytest exits 5 when every selected test was deselected or none ran; on a CPU machine the gpu
# tests are skipped (exit 0)
if [[ ${tests_rc} -ne 0 ]]; then
    echo "[gpu.sh] the gpu tests failed (exit ${tests_rc}); figures are still measured" >&2
fi

echo "[gpu.sh] measurements"
if [[ ${DRY} -eq 1 ]]; then
    timeout 300 "${PY}" benchmarks/gpu.py --dry-run --output "${OUT}"
else
    timeout 420 "${PY}" benchmarks/gpu.py --output "${OUT}"
fi
echo "[gpu.sh] done in $(($(date +%s) - start)) s: ${OUT}/gpu.md, gpu.json, tests.txt"
exit "${tests_rc}"
