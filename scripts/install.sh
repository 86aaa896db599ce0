#!/usr/bin/env bash
# Install everything computehub needs on a fresh Debian 12 machine, as root:
# Debian packages, the hub-side venv (.venv, from /usr/bin/python3), the proxy
# (npm), and the notebook environment that Slurm jobs run as the user.
# Idempotent: a second run checks stamps and returns in seconds.
set -euo pipefail
umask 022

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NOTEBOOK_ENV=${COMPUTEHUB_NOTEBOOK_ENV:-/opt/computehub/envs/notebook}
PY=/usr/bin/python3
# What the platform and its real-component tests need (see ../shared/TESTBED.md):
DEB_PACKAGES=(
  python3-venv sudo
  munge slurm-wlm slurmctld slurmd slurm-client slurmdbd mariadb-server   # the AI hubs
  slapd ldap-utils                                                       # university directory
  postgresql                                                             # production ledger
  chromium fonts-dejavu-core                                             # browser tests
  fonts-noto-core                                                        # Urdu in the browser tests (Noto Nastaliq Urdu)
  nodejs npm                                                             # the proxy
  debootstrap systemd-container zstd                                     # deployment tests (tests/deploy)
  buildah                                                                # the notebook image (scripts/build-images.sh, tests/images)
)

say() { printf '[install] %s\n' "$*"; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  if [[ $pkg == nodejs || $pkg == npm ]] && command -v "${pkg/nodejs/node}" >/dev/null; then
    continue   # a Node.js from elsewhere on PATH is fine
  fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Hub side: .venv at the repository root, editable.
hub_stamp=$(stamp_of "$ROOT/pyproject.toml")
if [[ ! -x $ROOT/.venv/bin/python || $(cat "$ROOT/.venv/.computehub-stamp" 2>/dev/null) != "$hub_stamp" ]]; then
  say "hub-side virtual environment: $ROOT/.venv"
  [[ -x $ROOT/.venv/bin/python ]] || "$PY" -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT[hub,notebook,test]"
  echo "$hub_stamp" >"$ROOT/.venv/.computehub-stamp"
fi

# The pages' languages: the Urdu catalog compiled from its .po (docs/languages.md);
# before the notebook environment's install below, so the widget's wheel has it too.
say "gettext catalogs"
"$ROOT/scripts/i18n.sh" compile >/dev/null

# The proxy (and, for tests, Node peers), pinned by package-lock.json.
if [[ ! -x $ROOT/node_modules/.bin/configurable-http-proxy || $ROOT/package-lock.json -nt $ROOT/node_modules/.package-lock.json ]]; then
  say "npm packages: configurable-http-proxy"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Notebook side: what jobs run as the user. It lives outside the checkout
# (a checkout under /root is not readable by the user) and is built from
# /usr/bin/python3 for the same reason.
nb_stamp=$(stamp_of "$ROOT/images/notebook/requirements.txt" "$ROOT/pyproject.toml")
if [[ ! -x $NOTEBOOK_ENV/bin/python || $(cat "$NOTEBOOK_ENV/.computehub-stamp" 2>/dev/null) != "$nb_stamp" ]]; then
  say "notebook environment: $NOTEBOOK_ENV"
  mkdir -p "$NOTEBOOK_ENV"
  [[ -x $NOTEBOOK_ENV/bin/python ]] || "$PY" -m venv "$NOTEBOOK_ENV"
  "$NOTEBOOK_ENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/images/notebook/requirements.txt"
  echo "$nb_stamp" >"$NOTEBOOK_ENV/.computehub-stamp"
fi
# The JupyterLab/Notebook 7 extension (status item and panel, extensions/labextension):
# TypeScript built into a prebuilt (federated) extension by JupyterLab's own builder
# against the notebook environment's JupyterLab, from the npm registry (install time
# only); the wheel below ships it in share/jupyter/labextensions.
LABEXT=$ROOT/extensions/labextension
lab_stamp=$(stamp_of "$LABEXT/package.json" "$LABEXT/package-lock.json" "$LABEXT/tsconfig.json" \
  "$LABEXT"/src/*.ts "$LABEXT"/style/*.css "$LABEXT"/schema/*.json "$ROOT/images/notebook/requirements.txt")
if [[ ! -f $LABEXT/dist/package.json || $(cat "$LABEXT/node_modules/.computehub-stamp" 2>/dev/null) != "$lab_stamp" ]]; then
  say "JupyterLab extension: $LABEXT/dist"
  core=$("$NOTEBOOK_ENV/bin/python" -c 'import jupyterlab, pathlib; print(pathlib.Path(jupyterlab.__file__).parent / "staging" / "package.json")')
  (cd "$LABEXT" && npm ci --no-audit --no-fund --loglevel=error && rm -rf lib dist \
    && node_modules/.bin/tsc \
    && PATH="$NOTEBOOK_ENV/bin:$PATH" "$NOTEBOOK_ENV/bin/jupyter-builder" build --core-package-file "$core" .)
  echo "$lab_stamp" >"$LABEXT/node_modules/.computehub-stamp"
fi
# The widget from this checkout, without its dependencies (they are pinned above).
src_stamp=$( (find "$ROOT/extensions" -name node_modules -prune -o \( -name '*.py' -o -name '*.json' \) -print0;
  find "$ROOT/computehub/i18n" "$ROOT/computehub/locale" \( -name '*.py' -o -name '*.po' \) -print0;
  find "$ROOT/computehub/__init__.py" "$ROOT/computehub/clock.py" "$LABEXT/dist" -type f -print0) |
  sort -z | xargs -0 cat | sha256sum | cut -c1-16)
if [[ $(cat "$NOTEBOOK_ENV/.computehub-src-stamp" 2>/dev/null) != "$src_stamp" ]]; then
  say "computehub widget into the notebook environment"
  "$NOTEBOOK_ENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$ROOT"
  echo "$src_stamp" >"$NOTEBOOK_ENV/.computehub-src-stamp"
fi
# nbgrader: sessions fetch and submit; the formgrader runs only as each course's
# hub service (computehub.extensions.formgrader), never in a student's session.
for conf in jupyter_server_config.json labconfig/page_config.json nbgrader_config.py; do
  install -D -m 0644 "$ROOT/images/notebook/jupyter/$conf" "$NOTEBOOK_ENV/etc/jupyter/$conf"
done
# Kernels load the computehub widget at start in computehub sessions (docs/widget.md).
install -D -m 0644 "$ROOT/images/notebook/ipython/ipython_kernel_config.py" \
  "$NOTEBOOK_ENV/etc/ipython/ipython_kernel_config.py"
# Sessions run where no outside network is reachable: JupyterLab must not ask
# users about fetching news or checking for updates.
install -D -m 0644 "$ROOT/images/notebook/lab/overrides.json" \
  "$NOTEBOOK_ENV/share/jupyter/lab/settings/overrides.json"
chmod -R a+rX "$NOTEBOOK_ENV"

say "ready"
