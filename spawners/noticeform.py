"""The spawn form's notices: credit expiring soon and a low balance, for the chosen account.

Pure HTML from :class:`~computehub.credits.notices.Notice` rows (no I/O). The form
lists every notice of every account the person may charge; the script shows those of
the account chosen in "Pay from" and follows the choice as it changes (the form's
own script changes the account with the hub and GPU until the person picks one).
"""

from __future__ import annotations

from collections.abc import Sequence

from computehub.credits.notices import Notice
from computehub.credits.service.noticeviews import notice_items


def render_notices(found: Sequence[Notice]) -> str:
    """The notices block, placed above the choices; empty without notices."""
    if not found:
        return ""
    return (
        '<div class="alert alert-warning" id="ch-notices" role="status" aria-live="polite">'
        f'<ul class="mb-0">{notice_items(found)}</ul></div>'
    )


#: Shows the chosen account's notices; runs after the form's script (its listeners on
#: the fields fire first, so the account it picks is already chosen).
NOTICES_SCRIPT = """
<script>
(function () {
  const root = document.getElementById("computehub-spawn");
  const box = document.getElementById("ch-notices");
  const account = document.getElementById("ch-account");
  if (!root || !box || !account) { return; }
  function show() {
    let shown = 0;
    for (const item of box.querySelectorAll("li[data-account]")) {
      item.hidden = item.dataset.account !== account.value;
      if (!item.hidden) { shown += 1; }
    }
    box.hidden = shown === 0;
  }
  root.addEventListener("change", show);
  root.addEventListener("input", show);
  show();
})();
</script>
"""
