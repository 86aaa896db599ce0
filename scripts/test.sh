#!/usr/bin/env bash
# Install everything the tests need, then run them all: lint, types, and the
# pytest suite on the real test bed (Slurm, MariaDB, slapd, PostgreSQL, proxy,
# JupyterHub, Chromium). Under CI=true a missing component fails a test.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/install.sh
bash scripts/install-deploy.sh
echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "[test] ansible-lint"
(cd ansible && PATH="$ROOT/.venv-ansible/bin:$PATH" ansible-lint --offline --profile production --nocolor -q)
echo "[test] hadolint"
.venv-ansible/bin/hadolint images/*/Containerfile
echo "[test] mypy"
bash scripts/typecheck.sh
echo "[test] pytest"
# Everything was just installed: a test that would skip for a missing part fails.
export COMPUTEHUB_STRICT_BED=1
exec .venv/bin/pytest "$@"
