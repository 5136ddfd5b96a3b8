#!/usr/bin/env bash
# Create ./.venv (if missing) and install the plugin with its pinned stack.
#   bash tools/setup_venv.sh            # torch 2.14.1 / torchvision 0.29.1
#   TORCH_SPEC="torch torchvision" bash tools/setup_venv.sh   # your own torch
#   MMCV_EXTRA="" bash tools/setup_venv.sh  # keep an installed full mmcv
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
MMCV_EXTRA=${MMCV_EXTRA-lite}
# tensorboard: the --vis tensorboard test runs instead of skipping
EXTRAS="tests,tensorboard${MMCV_EXTRA:+,$MMCV_EXTRA}"

if [ ! -x .venv/bin/python ]; then
    echo "[setup_venv] creating .venv with $($PYTHON --version 2>&1)"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
echo "[setup_venv] installing $TORCH_SPEC"
# shellcheck disable=SC2086
"${PIP[@]}" $TORCH_SPEC 2>&1 | { grep -v "^WARNING: Location" || true; }
echo "[setup_venv] installing mmrazor_udskd[$EXTRAS] (editable)"
"${PIP[@]}" -e ".[$EXTRAS]" 2>&1 | { grep -v "^WARNING: Location" || true; }
.venv/bin/python -W ignore -c "import mmrazor_udskd, mmrazor.models, torch; \
print('[setup_venv] ready: torch', torch.__version__, \
'| patches:', ','.join(mmrazor_udskd.compat.applied_patches()))"
