#!/usr/bin/env bash
# Build the CPU notebook image (images/cpu/Containerfile) with buildah: no
# daemon, no registry (images/README.md). scripts/install-deploy.sh runs it, so
# the README's test command builds the image that tests/images/ runs.
#   - a local base image from a Debian 12 root (debootstrap minbase with Python,
#     venv and git), cached as a zstd tarball;
#   - a wheelhouse of images/notebook/requirements.txt plus computehub's own
#     wheel (with the built JupyterLab extension and the compiled catalogs),
#     which the image and ansible/roles/computehub_notebook_env install from;
#   - the image localhost/computehub-cpu:latest, rebuilt when what it is built
#     from changes.
#   - with --gpu, also the GPU image localhost/computehub-gpu:latest
#     (images/gpu/Containerfile, FROM the CPU image) from a wheelhouse of
#     images/gpu/requirements.txt: about 3 GB of wheels, so not in the test command.
# Everything lives under $CACHE/containers (buildah's own storage, vfs driver).
# Idempotent: each piece has a stamp of what it was built from.
set -euo pipefail
GPU=0
[[ ${1:-} == --gpu ]] && GPU=1
umask 022
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${COMPUTEHUB_DEPLOY_CACHE:-/var/cache/computehub-deploy}
STORE=$CACHE/containers
say() { printf '[build-images] %s\n' "$*"; }
bah() { buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs "$@"; }
mkdir -p "$CACHE" "$STORE"

if ! command -v buildah >/dev/null; then
  say "buildah not found: install the Debian package buildah"
  exit 1
fi

# The base: what the Containerfile needs from Debian (kept small: vfs copies
# the whole root for every layer).
BASE_PACKAGES=(python3 python3-venv ca-certificates git)
base_stamp=$(printf '%s\n' "${BASE_PACKAGES[@]}" | sha256sum | cut -c1-16)
if [[ ! -s $CACHE/image-base.tar.zst || $(cat "$CACHE/image-base.stamp" 2>/dev/null) != "$base_stamp" ]]; then
  say "Debian 12 image base (debootstrap, a few minutes): $CACHE/image-base.tar.zst"
  build=$(mktemp -d "$CACHE/build.XXXXXX")
  include=$(IFS=,; echo "${BASE_PACKAGES[*]}")
  debootstrap --variant=minbase --include="$include" bookworm "$build/root" http://deb.debian.org/debian \
    >"$CACHE/image-base-debootstrap.log" 2>&1 \
    || { say "debootstrap failed: see $CACHE/image-base-debootstrap.log"; exit 1; }
  chroot "$build/root" apt-get clean
  rm -rf "$build/root"/var/lib/apt/lists/* "$build/root"/var/cache/apt/*.bin
  tar -C "$build/root" -I 'zstd -T0 -3' -cf "$CACHE/image-base.tar.zst.new" .
  mv "$CACHE/image-base.tar.zst.new" "$CACHE/image-base.tar.zst"
  rm -rf "$build"
  echo "$base_stamp" >"$CACHE/image-base.stamp"
  rm -f "$CACHE/image-base-image.stamp"
fi
if [[ $(cat "$CACHE/image-base-image.stamp" 2>/dev/null) != "$base_stamp" ]] \
  || ! bah inspect --type image localhost/computehub-base:bookworm >/dev/null 2>&1; then
  say "base image localhost/computehub-base:bookworm"
  ctr=$(bah from scratch)
  tmp=$(mktemp -d)
  zstd -q -d -o "$tmp/base.tar" "$CACHE/image-base.tar.zst"
  bah add "$ctr" "$tmp/base.tar" / >/dev/null
  rm -rf "$tmp"
  bah config --env LANG=C.UTF-8 "$ctr"
  bah commit --rm -q "$ctr" localhost/computehub-base:bookworm >/dev/null
  echo "$base_stamp" >"$CACHE/image-base-image.stamp"
fi

# The notebook wheelhouse: the lock file's wheels, and computehub's wheel built
# from this checkout (scripts/install.sh built its JupyterLab extension and catalogs).
WHEELS=$CACHE/wheels-notebook
wheel_stamp=$( (cat "$ROOT/images/notebook/requirements.txt" "$ROOT/pyproject.toml";
  cd "$ROOT" && git ls-files -z computehub spawners credits extensions | xargs -0 cat 2>/dev/null;
  find "$ROOT/extensions/labextension/dist" "$ROOT/computehub/locale" -type f \( -name '*.js' -o -name '*.json' -o -name '*.mo' \) -print0 |
    sort -z | xargs -0 cat) | sha256sum | cut -c1-16)
if [[ $(cat "$CACHE/wheels-notebook.stamp" 2>/dev/null) != "$wheel_stamp" ]]; then
  say "notebook wheelhouse: $WHEELS"
  rm -rf "$WHEELS"
  # The wheels are built for Debian 12's Python (the image's and the nodes').
  "$ROOT/.venv/bin/pip" wheel -q --disable-pip-version-check --wheel-dir "$WHEELS" \
    -r "$ROOT/images/notebook/requirements.txt" "$ROOT[notebook]" "setuptools>=68"
  tar -C "$WHEELS" -cf "$CACHE/wheels-notebook.tar" .
  echo "$wheel_stamp" >"$CACHE/wheels-notebook.stamp"
fi

# The CPU image.
image_stamp=$( (echo "$wheel_stamp $base_stamp"; cat "$ROOT/images/cpu/Containerfile";
  find "$ROOT/images/notebook" -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -c1-16)
if [[ $(cat "$CACHE/image-cpu.stamp" 2>/dev/null) != "$image_stamp" ]] \
  || ! bah inspect --type image localhost/computehub-cpu:latest >/dev/null 2>&1; then
  say "CPU image localhost/computehub-cpu:latest (buildah)"
  started=$(date +%s)
  # The build context is images/ alone: the Containerfile takes computehub from the wheelhouse.
  bah build --isolation chroot --layers=false -q \
    --build-arg BASE_IMAGE=localhost/computehub-base:bookworm \
    --volume "$WHEELS:/wheels:ro" \
    -f "$ROOT/images/cpu/Containerfile" -t localhost/computehub-cpu:latest "$ROOT/images" \
    >"$CACHE/image-cpu-build.log" 2>&1 \
    || { tail -30 "$CACHE/image-cpu-build.log"; say "the CPU image did not build: see $CACHE/image-cpu-build.log"; exit 1; }
  bah rmi --prune >/dev/null 2>&1 || true
  echo "$image_stamp" >"$CACHE/image-cpu.stamp"
  say "CPU image built in $(($(date +%s) - started)) s"
fi

# The GPU image (on request only).
if ((GPU)); then
  GPU_WHEELS=$CACHE/wheels-gpu
  gpu_wheel_stamp=$(sha256sum <"$ROOT/images/gpu/requirements.txt" | cut -c1-16)
  if [[ $(cat "$CACHE/wheels-gpu.stamp" 2>/dev/null) != "$gpu_wheel_stamp" ]]; then
    say "GPU wheelhouse (about 3 GB): $GPU_WHEELS"
    rm -rf "$GPU_WHEELS"
    "$ROOT/.venv/bin/pip" wheel -q --disable-pip-version-check --no-deps --wheel-dir "$GPU_WHEELS" \
      -r "$ROOT/images/gpu/requirements.txt"
    echo "$gpu_wheel_stamp" >"$CACHE/wheels-gpu.stamp"
  fi
  gpu_stamp=$( (echo "$image_stamp $gpu_wheel_stamp"; cat "$ROOT/images/gpu/Containerfile") | sha256sum | cut -c1-16)
  if [[ $(cat "$CACHE/image-gpu.stamp" 2>/dev/null) != "$gpu_stamp" ]] \
    || ! bah inspect --type image localhost/computehub-gpu:latest >/dev/null 2>&1; then
    say "GPU image localhost/computehub-gpu:latest (buildah)"
    started=$(date +%s)
    bah build --isolation chroot --layers=false -q \
      --build-arg BASE_IMAGE=localhost/computehub-cpu:latest \
      --volume "$GPU_WHEELS:/wheels:ro" \
      -f "$ROOT/images/gpu/Containerfile" -t localhost/computehub-gpu:latest "$ROOT/images" \
      >"$CACHE/image-gpu-build.log" 2>&1 \
      || { tail -30 "$CACHE/image-gpu-build.log"; say "the GPU image did not build: see $CACHE/image-gpu-build.log"; exit 1; }
    bah rmi --prune >/dev/null 2>&1 || true
    echo "$gpu_stamp" >"$CACHE/image-gpu.stamp"
    say "GPU image built in $(($(date +%s) - started)) s"
  fi
fi
say "ready"
