#!/usr/bin/env bash
# One command: install what is missing, build, and run the test suites (ctest). Needs ../shared beside the
# checkout (the test models), as CI lays it out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
