"""Loading: no hub-side imports, and `%load_ext` in a real IPython shell."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HUB_SIDE = [
    "jupyterhub",
    "batchspawner",
    "sqlalchemy",
    "pydantic",
    "yaml",
    "computehub.spawners",
    "computehub.credits",
    "computehub.sitefile",
]


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_package_import_is_cheap() -> None:
    out = run_python(
        """
        import json, sys
        import computehub.extensions
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in
              ("ipywidgets", "pynvml", "IPython", "traitlets"))))
        """
    )
    assert json.loads(out) == []


@pytest.mark.parametrize("module", ["widget", "session", "nvml", "creditsreader", "fake"])
def test_no_hub_side_code_is_imported(module: str) -> None:
    out = run_python(
        f"""
        import json, sys
        import computehub.extensions.{module}
        from computehub.extensions.nvml import PynvmlBackend
        try:
            PynvmlBackend().init()
        except Exception:
            pass
        print(json.dumps(sorted(sys.modules)))
        """
    )
    loaded = set(json.loads(out))
    assert [m for m in HUB_SIDE if m in loaded] == []


def test_load_ext_in_ipython_shows_the_widget_and_unload_stops_it(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "COMPUTEHUB_FAKE_GPUS": '[{"name": "NVIDIA L4", "utilization": 12}]',
        "CUDA_VISIBLE_DEVICES": "0",
        "PATH": "/usr/bin:/bin",
    }
    out = run_python(
        """
        import threading, time
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.core.formatters import DisplayFormatter
        ip = InteractiveShell.instance()
        shown = []
        ip.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
        ip.run_line_magic("load_ext", "computehub.extensions")
        ip.run_line_magic("computehub", "")
        from computehub.extensions import session
        sampler = session._sampler
        while sampler.latest is None:
            time.sleep(0.01)
        alive = [t.name for t in threading.enumerate() if t.name == "computehub-sampler"]
        ip.run_line_magic("unload_ext", "computehub.extensions")
        left = [t.name for t in threading.enumerate() if t.name == "computehub-sampler"]
        kinds = [sorted(d) for d in shown]
        print(len(shown), alive, left, "application/vnd.jupyter.widget-view+json" in kinds[0])
        print(sampler.latest.gpus.gpus[0].name if sampler.latest else None)
        """,
        env=env,
    )
    first, second = out.strip().splitlines()
    assert first == "2 ['computehub-sampler'] [] True"
    assert second == "NVIDIA L4"
