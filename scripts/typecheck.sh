#!/usr/bin/env bash
# mypy (strict, see pyproject.toml) over the package, the tests and the benchmarks.
# The import namespace `computehub` spans several top-level folders (see
# [tool.setuptools] in pyproject.toml), which mypy can't map by itself: give it a
# tree of symlinks laid out as the installed package. Test folders import their
# sibling helper modules the way pytest does (by folder), so each folder is
# checked on its own with itself on the path.
set -uo pipefail
status=0
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
MYPY=$ROOT/.venv/bin/mypy
MYPYPATH=$TREE "$MYPY" -p computehub "$@" || status=1
for dir in benchmarks tests tests/*/; do
  dir=${dir%/}
  files=("$dir"/*.py)
  [[ -e ${files[0]} ]] || continue
  MYPYPATH=$TREE:$ROOT/$dir:$ROOT/tests "$MYPY" "$@" "${files[@]}" || status=1
done
exit $status
