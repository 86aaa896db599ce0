#!/usr/bin/env bash
# The gettext catalogs (docs/languages.md):
#   scripts/i18n.sh extract   sources -> computehub/locale/computehub.pot
#   scripts/i18n.sh update    .pot -> each computehub/locale/<lang>/LC_MESSAGES/computehub.po
#   scripts/i18n.sh compile   .po -> .mo (scripts/install.sh runs it; .mo are not committed)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYBABEL=${PYBABEL:-$ROOT/.venv/bin/pybabel}
LOCALES=computehub/locale
# The source folders (computehub/credits, spawners, extensions are links to them).
SOURCES=(computehub credits spawners extensions hub_config/templates)

case ${1:-} in
  extract)
    "$PYBABEL" extract -F babel.cfg --no-location --sort-output --no-wrap \
      --project computehub --msgid-bugs-address "" --copyright-holder "computehub" \
      -o "$LOCALES/computehub.pot" "${SOURCES[@]}"
    ;;
  update)
    "$PYBABEL" update --no-wrap --ignore-obsolete -D computehub \
      -i "$LOCALES/computehub.pot" -d "$LOCALES"
    ;;
  compile)
    "$PYBABEL" compile --statistics -D computehub -d "$LOCALES"
    ;;
  *)
    echo "usage: $0 extract|update|compile" >&2
    exit 2
    ;;
esac
