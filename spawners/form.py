"""The spawn form (Bootstrap 5 markup inside JupyterHub's spawn page). No I/O.

Prices are embedded as data attributes so the page shows the cost per hour and
the total as the user changes their choices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape

from computehub.credits.display import credits_text
from computehub.credits.notices import Notice
from computehub.i18n import _
from computehub.i18n.catalog import isolate
from computehub.spawners.access import Entitlements, refusal
from computehub.spawners.availability import GpuAvailability
from computehub.spawners.billing import units
from computehub.spawners.capacity import reserved_note
from computehub.spawners.hubstatus import (
    DOWN,
    MAINTENANCE,
    UP,
    HubStatus,
    maintenance_message,
)
from computehub.spawners.noticeform import NOTICES_SCRIPT, render_notices
from computehub.spawners.options import ANY_HUB, CPU_ONLY, default_account
from computehub.spawners.registry import HubRegistry

#: The most GPUs or slices the form's count field accepts.
MAX_COUNT = 64

Free = Mapping[str, Mapping[str, GpuAvailability]]


def _free_text(hub: str, gpu: str, count: int, free: Free | None) -> str:
    if free is None or hub not in free:
        return _("{count} GPUs, availability unknown").format(count=count)
    seen = free[hub].get(gpu)
    if seen is None:
        return _("not seen in Slurm")
    return _("{free} of {total} free").format(free=seen.free, total=seen.total)


def render_form(
    registry: HubRegistry,
    free: Free | None = None,
    accounts: Mapping[str, Decimal] | None = None,
    who: Entitlements | None = None,
    notice: str | None = None,
    notes: Mapping[str, str] | None = None,
    statuses: Mapping[str, HubStatus] | None = None,
    notices: Sequence[Notice] = (),
) -> str:
    """HTML for choosing hub, GPU type and count, hours, environment and account.

    Args:
        registry: the hubs of the site file.
        free: free GPUs per hub and type, when known.
        accounts: the accounts the user may charge, with their available credits
            (the default first), so the form can say how many hours each can fund.
        who: the user's roles and courses: resources a hub keeps for others stay in
            the lists, and choosing one says who may use it instead of a price.
        notice: why the user's last session ended, when something else ended it
            (e.g. the GPU-idle rule, with what that saved), shown above the choices.
        notes: per account, the course limit that leaves a student least, in the
            billing seam's words (:func:`~computehub.spawners.billing.share_left`);
            ``accounts`` then already counts no more than it.
        statuses: each hub's state now: a hub that is down or in maintenance can't be
            chosen (its option is disabled and says why; "any hub" skips it), and the
            form says above the choices what people should know about each hub that is
            not up.
        notices: the person's notices (credit expiring soon, a low balance); the form
            shows those of the chosen account (:mod:`~computehub.spawners.noticeform`).
    """
    who = who or Entitlements()
    site = registry.site
    statuses = statuses or {}
    default_hub = site.defaults.hub or registry.names()[0]
    if default_hub in statuses and statuses[default_hub].closed:
        default_hub = ANY_HUB
    any_selected = " selected" if default_hub == ANY_HUB else ""
    hub_opts = [
        f'<option value="{ANY_HUB}"{any_selected}>'
        + escape(_("Any hub: the cheapest with the GPUs free now"))
        + "</option>"
    ]
    gpu_types: dict[str, list[str]] = {}
    prices: dict[str, dict[str, str]] = {}
    refused: dict[str, dict[str, str]] = {}
    for name in registry.names():
        hub = registry[name]
        selected = " selected" if name == default_hub else ""
        offered = [(gpu.upper(), gpu, count) for gpu, count in hub.gpus.items()]
        for gpu, profiles in hub.mig.items():
            for profile, count in profiles.items():
                gres = hub.gres_type(f"mig:{gpu}:{profile}") or profile
                label = _("{gpu} {profile} slices").format(gpu=gpu.upper(), profile=profile)
                offered.append((label, gres, count))
        gpus = "; ".join(
            isolate(f"{label}:")
            + " "
            + _free_text(name, gres, count, free)
            + (f", {note}" if (note := reserved_note(site, name, gres)) else "")
            for label, gres, count in offered
        )
        status = statuses.get(name)
        state = status.state if status is not None else "unknown"
        closed = " disabled" if status is not None and status.closed else ""
        if status is not None and status.closed:
            gpus = _closed_words(status)
        hub_opts.append(
            f'<option value="{escape(name)}" data-state="{escape(state)}"{selected}{closed}>'
            + escape(isolate(f"{hub.display_name} ({hub.region})"))
            + f"{' · ' + escape(gpus) if gpus else ''}</option>"
        )
        prices[name] = {resource: str(rate) for resource, rate in hub.rates.items()}
        for resource in hub.rates:
            reason = refusal(hub, resource, who)
            if reason is not None:
                refused.setdefault(name, {})[resource] = reason
        for gpu in hub.gpus:
            gpu_types.setdefault(gpu, []).append(name)
        for gpu, profiles in hub.mig.items():
            for profile in profiles:
                gpu_types.setdefault(f"{gpu}:{profile}", []).append(name)
    gpu_opts = [f'<option value="{CPU_ONLY}" data-hubs="*">' + escape(_("CPU only")) + "</option>"]
    units_of = {CPU_ONLY: _units_table(None)}
    for choice, hubs in gpu_types.items():
        gpu, _sep, profile = choice.partition(":")
        label = (
            _("{gpu}, a {profile} MIG slice").format(gpu=gpu.upper(), profile=profile)
            if profile
            else gpu.upper()
        )
        gpu_opts.append(
            f'<option value="{escape(choice)}" data-hubs="{escape(" ".join(hubs))}">'
            f"{escape(label)}</option>"
        )
        units_of[choice] = _units_table(choice)
    env_opts = []
    for env_name, env in site.environments.items():
        selected = " selected" if env_name == site.defaults.environment else ""
        env_opts.append(
            f'<option value="{escape(env_name)}"{selected}>{escape(env.display_name)}</option>'
        )
    notes = notes or {}
    account_opts = [
        f'<option value="{escape(name)}" data-available="{escape(str(available))}">'
        + escape(_account_words(name, available, notes.get(name)))
        + "</option>"
        for name, available in (accounts or {}).items()
    ]
    hours = escape(str(site.defaults.hours))
    defaults_json = escape(json.dumps(_default_accounts(registry, list(accounts or {}), who)))
    price_json = escape(json.dumps(prices))
    refused_json = escape(json.dumps(refused))
    units_json = escape(json.dumps(units_of))
    closed_json = escape(json.dumps([name for name, s in statuses.items() if s.closed]))
    words_json = escape(json.dumps(script_words(), ensure_ascii=False))
    return (
        (
            f"""
<div class="computehub-spawn" id="computehub-spawn" data-prices="{price_json}"
     data-refused="{refused_json}" data-units="{units_json}"
     data-defaults="{defaults_json}" data-closed="{closed_json}"
     data-cpu="{CPU_ONLY}" data-any="{ANY_HUB}" data-words="{words_json}">
  {_notice(notice)}
  {_hub_notices(registry, statuses)}
  {render_notices(notices)}
  <div class="mb-3">
    <label for="ch-hub" class="form-label">"""
            + escape(_("AI hub"))
            + f"""</label>
    <select id="ch-hub" name="hub" class="form-select">{"".join(hub_opts)}</select>
  </div>
  <div class="row mb-3">
    <div class="col-sm-8">
      <label for="ch-gpu-type" class="form-label">"""
            + escape(_("GPU"))
            + f"""</label>
      <select id="ch-gpu-type" name="gpu_type" class="form-select">{"".join(gpu_opts)}</select>
    </div>
    <div class="col-sm-4">
      <label for="ch-gpus" class="form-label">"""
            + escape(_("Number of GPUs or slices"))
            + f"""</label>
      <input id="ch-gpus" name="gpus" type="number" min="0" max="{MAX_COUNT}" value="0"
             class="form-control">
    </div>
  </div>
  <div class="row mb-3">
    <div class="col-sm-4">
      <label for="ch-hours" class="form-label">"""
            + escape(_("Hours"))
            + f"""</label>
      <input id="ch-hours" name="hours" type="number" min="0.25" step="0.25"
             value="{hours}" class="form-control">
    </div>
    <div class="col-sm-8">
      <label for="ch-environment" class="form-label">"""
            + escape(_("Environment"))
            + f"""</label>
      <select id="ch-environment" name="environment" class="form-select">
        {"".join(env_opts)}</select>
    </div>
  </div>
  <div class="mb-3">
    <label for="ch-account" class="form-label">"""
            + escape(_("Pay from"))
            + f"""</label>
    <select id="ch-account" name="account" class="form-select">{"".join(account_opts)}</select>
  </div>
  <div class="alert alert-secondary" id="ch-cost" role="status" aria-live="polite"></div>
</div>
"""
        )
        + _SCRIPT
        + (NOTICES_SCRIPT if notices else "")
    )


def _default_accounts(
    registry: HubRegistry, accounts: list[str], who: Entitlements
) -> dict[str, dict[str, str]]:
    """The account a start charges when it names none, per hub and resource.

    The page selects it as the choice changes (:func:`~computehub.spawners.options.default_account`,
    the rule the start applies, not a copy). For *any hub*, a resource's default is the
    one every hub that would let this person use it agrees on; where they differ, the
    first account (the hub is chosen only at the start).
    """
    if not accounts:
        return {}
    table: dict[str, dict[str, str]] = {}
    everywhere: dict[str, set[str]] = {}
    for name in registry.names():
        hub = registry[name]
        for resource in hub.rates:
            chosen = default_account(hub, resource, accounts)
            table.setdefault(name, {})[resource] = chosen
            if refusal(hub, resource, who) is None:
                everywhere.setdefault(resource, set()).add(chosen)
    table[ANY_HUB] = {
        resource: next(iter(found)) if len(found) == 1 else accounts[0]
        for resource, found in everywhere.items()
    }
    return table


def _units_table(gpu_type: str | None) -> list[int]:
    """The units a session of this choice takes for 1 to :data:`MAX_COUNT` GPUs.

    The page's instant price multiplies by these (the billing seam's rule, not a copy).
    """
    return [units(gpu_type, n) for n in range(1, MAX_COUNT + 1)]


def _account_words(name: str, available: Decimal, note: str | None) -> str:
    """An account's option: its name, what it has available, and its course limit."""
    if note:
        return _("{account} ({amount} credits available; {note})").format(
            account=isolate(name), amount=credits_text(available), note=note
        )
    return _("{account} ({amount} credits available)").format(
        account=isolate(name), amount=credits_text(available)
    )


def _closed_words(status: HubStatus) -> str:
    """What a closed hub's option says instead of its free GPUs."""
    if status.state == MAINTENANCE:
        return _("in maintenance")
    if not status.answered:
        return _("down: its scheduler is not answering")
    return _("down: not taking new sessions")


def _hub_notices(registry: HubRegistry, statuses: Mapping[str, HubStatus]) -> str:
    """One line per hub that is not up, above the choices: what people should know."""
    lines = []
    for name in registry.names():
        status = statuses.get(name)
        if status is None or status.state == UP:
            continue
        if status.state == MAINTENANCE:
            text = maintenance_message(status.display_name, status.message)
        elif status.state == DOWN:
            text = status.message
        else:
            text = f"{status.display_name}: {status.message}"
        lines.append(
            f'<li data-hub="{escape(name)}" data-state="{escape(status.state)}">'
            f"<bdi>{escape(text)}</bdi></li>"
        )
    if not lines:
        return ""
    return (
        '<div class="alert alert-warning" id="ch-hub-status" role="status">'
        f'<ul class="mb-0">{"".join(lines)}</ul></div>'
    )


def _notice(text: str | None) -> str:
    if not text:
        return ""
    return (
        '<div class="alert alert-info" id="ch-last-session" role="status">'
        + escape(_("Your last session: {note}").format(note=text))
        + "</div>"
    )


def script_words() -> dict[str, str]:
    """The sentences the form's script writes, in the current language (``{name}``s
    are filled in by the script)."""
    return {
        "refused": _("You can't start this: {why}. Choose another GPU or hub."),
        "refused_ledger": _("You can't start this: {why}"),
        "not_offered": _("This hub does not offer that resource."),
        "fund": _("Your account can fund up to {hours} h."),
        "not_enough": _(
            "That is not enough for {hours} h: choose fewer hours, a cheaper resource or "
            "another account."
        ),
        "cost": _(
            "Cost: {rate} credits per hour, {total} credits for {hours} h (held when the "
            "server starts; you pay only for the time it runs)."
        ),
        "cost_from": _(
            "Cost: from {rate} credits per hour, from {total} credits for {hours} h (held "
            "when the server starts; you pay only for the time it runs)."
        ),
        "cost_on": _(
            "Cost: {rate} credits per hour, {total} credits for {hours} h on {hub} (held "
            "when the server starts; you pay only for the time it runs)."
        ),
    }


_SCRIPT = r"""
<script>
(function () {
  const root = document.getElementById("computehub-spawn");
  // The page's words in its language (data-words); {name} is filled in by say().
  const words = JSON.parse(root.dataset.words);
  function say(key, values) {
    return words[key].replace(/\{(\w+)\}/g, (all, name) => String(values[name]));
  }
  const prices = JSON.parse(root.dataset.prices);
  const units = JSON.parse(root.dataset.units);
  const hub = document.getElementById("ch-hub");
  const gpu = document.getElementById("ch-gpu-type");
  const count = document.getElementById("ch-gpus");
  const hours = document.getElementById("ch-hours");
  const cost = document.getElementById("ch-cost");
  const account = document.getElementById("ch-account");
  const refused = JSON.parse(root.dataset.refused);
  const defaults = JSON.parse(root.dataset.defaults);
  // Hubs that take no new sessions now (down, in maintenance): "any hub" never goes there.
  const closed = JSON.parse(root.dataset.closed);
  const open = Object.keys(prices).filter(h => !closed.includes(h));
  // The account follows the choice (the start's own default) until the person picks one.
  let accountChosen = false;
  // Registered before the listeners below, so a pick is marked before update() runs.
  for (const kind of ["input", "change"]) {
    account.addEventListener(kind, () => { accountChosen = true; });
  }
  function resource() {
    if (gpu.value === root.dataset.cpu) { return "cpu"; }
    return (gpu.value.includes(":") ? "mig:" : "gpu:") + gpu.value;
  }
  function refusalAt(h) {
    return (refused[h] || {})[resource()];
  }
  function rateOf(h) {
    return refusalAt(h) === undefined ? (prices[h] || {})[resource()] : undefined;
  }
  function update() {
    for (const opt of gpu.options) {
      const hubs = opt.dataset.hubs.split(" ");
      const anyHub = hub.value === root.dataset.any;
      const ok = opt.dataset.hubs === "*" || anyHub || hubs.includes(hub.value);
      opt.hidden = !ok;
      if (!ok && opt.selected) { gpu.value = root.dataset.cpu; }
    }
    if (gpu.value === root.dataset.cpu) { count.value = 0; }
    else if (count.value === "0") { count.value = 1; }
    const wantAccount = (defaults[hub.value] || {})[resource()];
    if (!accountChosen && wantAccount !== undefined) { account.value = wantAccount; }
    let rate;
    if (hub.value === root.dataset.any) {
      const all = open.map(rateOf).filter(r => r !== undefined).map(Number);
      rate = all.length ? Math.min(...all) : undefined;
    } else {
      rate = rateOf(hub.value);
    }
    if (rate === undefined) {
      const hubs = hub.value === root.dataset.any ? open : [hub.value];
      const why = hubs.map(refusalAt).find(r => r !== undefined);
      cost.className = "alert alert-warning";
      cost.textContent = why !== undefined
        ? say("refused", {why: why})
        : say("not_offered", {});
      return;
    }
    cost.className = "alert alert-secondary";
    const table = units[gpu.value];
    const wanted = Math.max(Math.floor(Number(count.value)) || 1, 1);
    const perHour = Number(rate) * table[Math.min(wanted, table.length) - 1];
    const total = perHour * Number(hours.value || 0);
    const from = hub.value === root.dataset.any ? "_from" : "";
    let funds = "";
    const chosen = account.selectedOptions[0];
    if (chosen && perHour > 0) {
      const available = Number(chosen.dataset.available);
      const fundable = Math.floor((available / perHour) * 100) / 100;
      funds = " " + say("fund", {hours: fundable.toFixed(2)});
      if (available < total) {
        funds += " " + say("not_enough", {hours: hours.value});
      }
    }
    cost.textContent = say("cost" + from, {
      rate: perHour.toFixed(2), total: total.toFixed(2), hours: hours.value, hub: "",
    }) + funds;
  }
  // The figures above come from the page; the ledger's own estimate (the same
  // validation as a start, the account's credit now) replaces them when it arrives.
  let asked = 0;
  let timer;
  function choice() {
    const query = new URLSearchParams();
    for (const el of root.querySelectorAll("select[name], input[name]")) {
      query.set(el.name, el.value);
    }
    return query;
  }
  async function askLedger() {
    const mine = ++asked;
    const jh = window.jhdata || {};
    const base = (jh.base_url || "/hub/") + "api/computehub/estimate?";  // base_url: /hub/
    let answer;
    try {
      const response = await fetch(base + choice(), {
        credentials: "same-origin",
        headers: {"X-XSRFToken": jh.xsrf_token || ""},
      });
      answer = {status: response.status, body: await response.json()};
    } catch (err) {
      return;  // the figures from the page stay
    }
    if (mine !== asked) { return; }  // a newer choice is on its way
    const body = answer.body;
    if (answer.status !== 200) {
      if (answer.status === 400 && body.message) {
        cost.className = "alert alert-warning";
        cost.dataset.source = "ledger";
        cost.textContent = say("refused_ledger", {why: body.message});
      }
      return;
    }
    const on = hub.value === root.dataset.any ? "_on" : "";
    let funds = "";
    if (body.affordable_hours !== null) {
      funds = " " + say("fund", {hours: body.affordable_hours});
      if (!body.sufficient) {
        funds += " " + say("not_enough", {hours: body.hours});
      }
    }
    if (body.reserved) { funds += ` ${body.reserved}`; }
    cost.className = body.sufficient ? "alert alert-secondary" : "alert alert-warning";
    cost.dataset.source = "ledger";
    cost.textContent = say("cost" + on, {
      rate: Number(body.per_hour).toFixed(2), total: Number(body.cost).toFixed(2),
      hours: body.hours, hub: body.hub_name,
    }) + funds;
  }
  function changed() {
    update();
    delete cost.dataset.source;
    clearTimeout(timer);
    timer = setTimeout(askLedger, 200);
  }
  for (const el of [hub, gpu, count, hours, account, root.querySelector("#ch-environment")]) {
    el.addEventListener("change", changed);
    el.addEventListener("input", changed);
  }
  changed();
})();
</script>
"""
