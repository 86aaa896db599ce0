#!/usr/bin/env bash
# mypy over the whole tree. The import namespace `computehub` spans several
# top-level folders (see [tool.setuptools] in pyproject.toml), which mypy can't
# map by itself: give it a tree of symlinks laid out as the installed package.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TREE=$ROOT/build/typecheck
rm -rf "$TREE"
mkdir -p "$TREE/computehub"
for entry in "$ROOT"/computehub/*; do
  ln -s "$entry" "$TREE/computehub/$(basename "$entry")"
done
for sub in spawners credits extensions; do
  ln -s "$ROOT/$sub" "$TREE/computehub/$sub"
done
cd "$ROOT"
MYPYPATH=$TREE exec "$ROOT/.venv/bin/mypy" -p computehub "$@"
