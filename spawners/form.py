"""The spawn form (Bootstrap 5 markup inside JupyterHub's spawn page). No I/O."""

from __future__ import annotations

from html import escape

from computehub.spawners.registry import HubRegistry


def render_form(registry: HubRegistry) -> str:
    """HTML for choosing hub, GPU type and count, hours and environment."""
    site = registry.site
    default_hub = site.defaults.hub or registry.names()[0]
    hub_opts = []
    gpu_opts = ['<option value="none" data-hubs="*">CPU only</option>']
    env_opts = []
    for name in registry.names():
        hub = registry[name]
        selected = " selected" if name == default_hub else ""
        hub_opts.append(
            f'<option value="{escape(name)}"{selected}>{escape(hub.display_name)} '
            f"({escape(hub.region)})</option>"
        )
        for gpu, count in hub.gpus.items():
            rate = hub.rates.get(f"gpu:{gpu}")
            gpu_opts.append(
                f'<option value="{escape(gpu)}" data-hubs="{escape(name)}">'
                f"{escape(gpu.upper())} on {escape(hub.display_name)} "
                f"({count} GPUs, {rate} credits/h each)</option>"
            )
    for env_name, env in site.environments.items():
        selected = " selected" if env_name == site.defaults.environment else ""
        env_opts.append(
            f'<option value="{escape(env_name)}"{selected}>{escape(env.display_name)}</option>'
        )
    hours = escape(str(site.defaults.hours))
    return f"""
<div class="computehub-spawn" id="computehub-spawn">
  <div class="mb-3">
    <label for="ch-hub" class="form-label">AI hub</label>
    <select id="ch-hub" name="hub" class="form-select">{"".join(hub_opts)}</select>
  </div>
  <div class="row mb-3">
    <div class="col-sm-8">
      <label for="ch-gpu-type" class="form-label">GPU</label>
      <select id="ch-gpu-type" name="gpu_type" class="form-select">{"".join(gpu_opts)}</select>
    </div>
    <div class="col-sm-4">
      <label for="ch-gpus" class="form-label">Number of GPUs</label>
      <input id="ch-gpus" name="gpus" type="number" min="0" max="64" value="1"
             class="form-control">
    </div>
  </div>
  <div class="row mb-3">
    <div class="col-sm-4">
      <label for="ch-hours" class="form-label">Hours</label>
      <input id="ch-hours" name="hours" type="number" min="0.25" step="0.25"
             value="{hours}" class="form-control">
    </div>
    <div class="col-sm-8">
      <label for="ch-environment" class="form-label">Environment</label>
      <select id="ch-environment" name="environment" class="form-select">
        {"".join(env_opts)}</select>
    </div>
  </div>
</div>
<script>
(function () {{
  const hub = document.getElementById("ch-hub");
  const gpu = document.getElementById("ch-gpu-type");
  const count = document.getElementById("ch-gpus");
  function filter() {{
    for (const opt of gpu.options) {{
      const ok = opt.dataset.hubs === "*" || opt.dataset.hubs === hub.value;
      opt.hidden = !ok;
      if (!ok && opt.selected) {{ gpu.value = "none"; }}
    }}
    if (gpu.value === "none") {{ count.value = 0; }}
    else if (count.value === "0") {{ count.value = 1; }}
  }}
  hub.addEventListener("change", filter);
  gpu.addEventListener("change", filter);
  filter();
}})();
</script>
"""
