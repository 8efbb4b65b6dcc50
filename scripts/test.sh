#!/usr/bin/env bash
# Set up a virtualenv from the hash-pinned lock file and run the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# --no-deps: the lock is complete (uv pip compile); without it pip re-resolves an
# extra (qdrant-client wants httpx[http2]) off the lock and refuses it in hash mode.
.venv/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
.venv/bin/python -m pip check  # the lock must satisfy every requirement, ours included
# The coding agents the gateway is tested with (tests/agents): exact versions from their lock file.
agents=tests/agents/clients
if [ ! -f $agents/node_modules/.package-lock.json ] || [ $agents/package-lock.json -nt $agents/node_modules/.package-lock.json ]; then
  echo "== installing the agent clients (npm ci in $agents)"
  (cd $agents && npm ci --no-audit --no-fund --loglevel=error)
fi
exec .venv/bin/python -m pytest -q "$@"
