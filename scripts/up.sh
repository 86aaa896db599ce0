#!/usr/bin/env bash
# Start computehub on this machine on embedded defaults: installs what is
# missing, then runs two local Slurm hubs with fake GPUs and JupyterHub on
# http://127.0.0.1:8000. Ctrl-C stops everything.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/install.sh"
exec "$ROOT/.venv/bin/computehub" demo "$@"
