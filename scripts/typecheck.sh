#!/usr/bin/env bash
# Static checks of the whole tree: one mypy run (strict, see [tool.mypy] in
# pyproject.toml) over the package, the tests and the benchmarks, then Pyright
# ([tool.pyright]), which must resolve every import. computehub/spawners, credits and
# extensions are committed symlinks to the top-level folders, so both read one tree.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
.venv/bin/mypy "$@"
.venv/bin/pyright --project "$ROOT"
