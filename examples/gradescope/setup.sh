#!/usr/bin/env bash
# Gradescope runs this once when the autograder image is built. The autograder zip holds this
# repository (with solutions/, for the hidden checks) and unpacks to /autograder/source.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
apt-get update -qq && apt-get install -y -qq python3 python3-venv make >/dev/null
make -C "$ROOT/source" venv
