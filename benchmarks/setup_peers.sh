#!/usr/bin/env bash
# Build the virtual environment in which benchmarks/speed_peers.py runs the peer libraries
# PySNN 0.1.1, BindsNET 0.3.4 and SpikingJelly 2.0.0 (never the project's own venv: all three pin
# things we do not want).
#
#   bash benchmarks/setup_peers.sh           # venv at benchmarks/.venv-peers (repo-relative)
#   PEERS_VENV=/some/dir bash benchmarks/setup_peers.sh
#
# Idempotent: re-running it re-checks every step (pip no-ops on what is there), re-applies the
# torchvision patch only where it is missing, and ends with the same import check.
#
# What it does and why:
# 1. torch first, pinned to the CPU build `torch==2.13.0+cpu` (PEERS_TORCH_SPEC overrides). The
#    CPU wheel is cached on this machine (pip's find-links); PyPI itself only has the multi-GB CUDA
#    build of 2.13.0. Pinning the "+cpu" local version means pip fails fast instead of silently
#    downloading CUDA torch on a machine without that wheel. Every later install runs with a
#    constraints file holding the same pin, or with --no-deps, so nothing can replace this torch.
# 2. PySNN 0.1.1 with --no-deps: its metadata requires the withdrawn `sklearn` package (and
#    pre-commit, torchvision, pandas...). Its core modules only need torch and numpy (numpy is
#    installed explicitly); `pysnn.datasets` imports pandas/sklearn lazily, unused here.
# 3. BindsNET 0.3.4 with --no-deps: its metadata requires torch>=2.14 and torchvision>=0.29, which
#    would pull a new (CUDA) torch. It runs on torch 2.13 (checked by speed_peers.py's self-check).
#    `import bindsnet` imports every subpackage, so its runtime imports are installed explicitly,
#    within BindsNET's own version ranges and under the torch constraint: numpy, scipy, matplotlib,
#    pandas, scikit-learn, tqdm, tensorboardX, pillow, gymnasium, ale-py, and opencv-python-headless
#    in place of opencv-python (same `cv2` module, without the GUI/libGL system dependencies).
#    scikit-image (in its metadata) is imported nowhere in bindsnet and is left out. `pip check`
#    therefore reports bindsnet's torch, torchvision, opencv-python and scikit-image requirements
#    (and pysnn's sklearn, pre-commit) as unmet; that is expected, as is pip's "dependency
#    conflicts" message about pysnn during step 3.
# 4. torchvision (imported by bindsnet.datasets and bindsnet.analysis at import time; BindsNET
#    only uses its pure-Python parts: datasets base classes, transforms, utils.make_grid).
#    torchvision 0.28.0 is the release paired with torch 2.13.0 (its metadata pins torch==2.13.0),
#    installed with --no-deps. PyPI's wheel is the CUDA build: its C++ extension _C.so links
#    libtorch_cuda/libc10_cuda, so it cannot load next to CPU torch. torchvision is written to run
#    without _C (extension._has_ops() is then False and the C++ ops raise on use), except that two
#    decorators in torchvision/_meta_registrations.py (fake kernels for torchvision::nms and ::qnms)
#    are not guarded and make `import torchvision` fail with "operator torchvision::nms does not
#    exist". We patch just those two lines to apply the decorator only when _has_ops() is true,
#    the same guard the file's register_meta helper already uses. Result: the real torchvision
#    0.28.0 imports; only its compiled ops (nms, roi_align, image decoding) are unavailable, and
#    BindsNET uses none of them. (A CPU torchvision wheel is not on PyPI, and no sdist exists.)
# 5. SpikingJelly 2.0.0 (the newest PyPI release; it ships learning.MSTDPETLearner) with --no-deps:
#    its metadata requires torchaudio, which has no release for torch 2.13 on PyPI (the newest is
#    2.11.1), plus h5py, requests, SciencePlots and others that the modules used here
#    (activation_based.neuron, layer, learning, functional) never import. Their runtime
#    imports are installed under the torch constraint: loguru (spikingjelly.logger) and
#    tensorboard (activation_based.monitor imports torch.utils.tensorboard); numpy, tqdm and
#    torchvision are already there. `pip check` therefore also reports spikingjelly's torchaudio,
#    h5py, requests and SciencePlots as unmet; that is expected.
# 6. Verify: torch 2.13.0 CPU, pysnn, bindsnet and spikingjelly's learner import.
# Takes 2-3 min on a fresh venv (wheels cached or on the local index), a few seconds after.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
VENV="${PEERS_VENV:-benchmarks/.venv-peers}"
case "${VENV}" in
    /*) ;;
    *) VENV="${REPO_ROOT}/${VENV}" ;;
esac
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${PEERS_TORCH_SPEC:-torch==2.13.0+cpu}"
TORCHVISION_SPEC="torchvision==0.28.0"

log() { printf '[setup_peers] %s\n' "$*"; }

start=$(date +%s)

if [[ ! -x "${VENV}/bin/python" ]]; then
    "${PYTHON}" -c 'import sys; assert sys.version_info >= (3, 11), "BindsNET 0.3.4 needs Python >= 3.11"'
    log "creating venv ${VENV} with $(${PYTHON} --version)"
    "${PYTHON}" -m venv "${VENV}"
else
    log "reusing venv ${VENV}"
fi
PY="${VENV}/bin/python"
PIP=("${PY}" -m pip install --disable-pip-version-check --quiet)

CONSTRAINTS="${VENV}/peers-constraints.txt"
printf '%s\n%s\n' "${TORCH_SPEC}" "${TORCHVISION_SPEC}" >"${CONSTRAINTS}"

# 1. torch (its own small pure-Python deps come along; the constraint keeps it the CPU build).
log "installing ${TORCH_SPEC}"
"${PIP[@]}" -c "${CONSTRAINTS}" "${TORCH_SPEC}"

# 2. PySNN.
log "installing pysnn==0.1.1 (--no-deps) and numpy"
"${PIP[@]}" -c "${CONSTRAINTS}" "numpy>=2,<3"
"${PIP[@]}" --no-deps "pysnn==0.1.1"

# 3. BindsNET's runtime imports, then BindsNET itself.
log "installing BindsNET's runtime dependencies"
"${PIP[@]}" -c "${CONSTRAINTS}" \
    "scipy>=1,<2" "matplotlib>=3,<4" "pandas>=3,<4" "scikit-learn>=1,<2" "tqdm>=4,<5" \
    "tensorboardX>=2.6.4,<3" "pillow" "gymnasium>=1,<2" "ale-py>=0,<1" \
    "opencv-python-headless>=4,<6"
log "installing ${TORCHVISION_SPEC} (--no-deps) and bindsnet==0.3.4 (--no-deps)"
"${PIP[@]}" --no-deps "${TORCHVISION_SPEC}"
"${PIP[@]}" --no-deps "bindsnet==0.3.4"

# 4. Guard torchvision's two unguarded fake-kernel registrations (see the header).
"${PY}" - <<'EOF'
import importlib.util
import pathlib
import re

spec = importlib.util.find_spec("torchvision")
path = pathlib.Path(spec.submodule_search_locations[0]) / "_meta_registrations.py"
src = path.read_text()
pattern = re.compile(r'^@torch\.library\.register_fake\("(torchvision::q?nms)"\)$', re.M)
guard = '@(torch.library.register_fake("{}") if torchvision.extension._has_ops() else (lambda f: f))'
new, n = pattern.subn(lambda m: guard.format(m.group(1)), src)
if n:
    path.write_text(new)
    print(f"[setup_peers] patched {n} unguarded register_fake decorators in {path}")
elif guard.format("torchvision::nms") in src:
    print("[setup_peers] torchvision already patched")
EOF

# 5. SpikingJelly and the two modules it imports that nothing above installs.
log "installing loguru, tensorboard and spikingjelly==2.0.0 (--no-deps)"
"${PIP[@]}" -c "${CONSTRAINTS}" "loguru>=0.7,<1" "tensorboard>=2,<3"
"${PIP[@]}" --no-deps "spikingjelly==2.0.0"

# 6. Verify.
log "verifying imports"
version=$("${PY}" -W ignore -c '
import torch, pysnn, bindsnet, torchvision
from spikingjelly.activation_based import layer, neuron
from spikingjelly.activation_based.learning import MSTDPETLearner, STDPLearner
assert torch.version.cuda is None, "torch is not the CPU build"
print(torch.__version__)
' | tail -n 1)
log "torch ${version} (CPU), pysnn, bindsnet, spikingjelly import"
case "${version}" in
    2.13.0 | 2.13.0+cpu) ;;
    *)
        log "expected torch 2.13.0, got ${version}" >&2
        exit 1
        ;;
esac
"${PY}" -W ignore -c "import torch, pysnn, bindsnet, spikingjelly; print(torch.__version__)"
log "done in $(($(date +%s) - start)) s; python: ${PY}"
