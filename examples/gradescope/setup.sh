#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image from the zip that
# build_zip.py made (unpacked to /autograder/source: the grader, this assignment's folder and
# its solution, for the hidden checks). Students never see /autograder/source.
set -euo pipefail
SOURCE="${AUTOGRADER_ROOT:-/autograder}/source"
apt-get update -qq
# bubblewrap: the sandbox the grader runs student code in, where the container allows it
apt-get install -y -qq python3 python3-venv python3-pip bubblewrap >/dev/null
python3 -m venv "$SOURCE/.venv"
"$SOURCE/.venv/bin/pip" install -q --upgrade pip
# Gradescope has no GPU: to keep the image small, install torch's CPU-only wheel first, e.g.
#   "$SOURCE/.venv/bin/pip" install torch==<version in pyproject.toml> --index-url <PyTorch's CPU wheel index>
"$SOURCE/.venv/bin/pip" install -q "$SOURCE"
# What protects the grader here, in the build log (the grader works, with a warning, without some)
"$SOURCE/.venv/bin/grade" --check-sandbox || true
