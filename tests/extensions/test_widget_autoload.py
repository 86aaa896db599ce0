"""Loading at kernel start: only in computehub sessions, unless turned off; the panel's view."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from computehub.extensions.autoload import widget_wanted

SESSION = {"COMPUTEHUB_HUB": "lahore", "JUPYTERHUB_API_TOKEN": "t"}


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        (SESSION, True),
        ({**SESSION, "COMPUTEHUB_WIDGET": "on"}, True),
        ({**SESSION, "COMPUTEHUB_WIDGET": ""}, True),
        ({**SESSION, "COMPUTEHUB_WIDGET": "off"}, False),
        ({**SESSION, "COMPUTEHUB_WIDGET": " OFF "}, False),
        ({**SESSION, "COMPUTEHUB_WIDGET": "0"}, False),
        ({**SESSION, "COMPUTEHUB_WIDGET": "false"}, False),
        ({**SESSION, "COMPUTEHUB_WIDGET": "no"}, False),
        ({"JUPYTERHUB_API_TOKEN": "t"}, False),  # a server computehub did not spawn
        ({"COMPUTEHUB_HUB": "lahore"}, False),  # not a JupyterHub server at all
        ({"COMPUTEHUB_HUB": "", "JUPYTERHUB_API_TOKEN": "t"}, False),
        ({}, False),
    ],
)
def test_widget_wanted(env: dict[str, str], wanted: bool) -> None:
    assert widget_wanted(env) is wanted


def kernel_start(tmp_path: Path, env: dict[str, str], user_config: str = "") -> dict[str, object]:
    """Start an IPython shell the way the notebook env's kernel config does; what it loaded."""
    ipython_dir = tmp_path / "ipython"
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text(
        # What images/notebook/ipython/ipython_kernel_config.py says, then the user's own.
        Path("images/notebook/ipython/ipython_kernel_config.py").read_text() + user_config
    )
    code = textwrap.dedent(
        """
        import json
        from IPython.terminal.ipapp import TerminalIPythonApp
        app = TerminalIPythonApp.instance()
        app.initialize([])
        ip = app.shell
        print(json.dumps({
            "loaded": sorted(m for m in ip.extension_manager.loaded if "computehub" in m),
            "magic": "computehub" in ip.magics_manager.magics["line"],
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"HOME": str(tmp_path), "IPYTHONDIR": str(ipython_dir), "PATH": "/usr/bin:/bin", **env},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    doc: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return doc


def test_kernel_start_loads_the_widget_in_a_session(tmp_path: Path) -> None:
    assert kernel_start(tmp_path, SESSION) == {
        "loaded": ["computehub.extensions", "computehub.extensions.autoload"],
        "magic": True,
    }


def test_kernel_start_outside_a_session_loads_nothing(tmp_path: Path) -> None:
    assert kernel_start(tmp_path, {"JUPYTERHUB_API_TOKEN": "t"}) == {
        "loaded": ["computehub.extensions.autoload"],
        "magic": False,
    }


def test_the_environment_turns_it_off(tmp_path: Path) -> None:
    assert kernel_start(tmp_path, {**SESSION, "COMPUTEHUB_WIDGET": "off"})["magic"] is False


def test_the_users_ipython_config_turns_it_off(tmp_path: Path) -> None:
    user = "\nc.ComputeHubWidgetSettings.autoload = False\n"
    assert kernel_start(tmp_path, SESSION, user)["magic"] is False


def test_panel_shows_one_widget_per_kernel_and_only_if_loaded_when_asked(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json
        from IPython.core.interactiveshell import InteractiveShell
        import computehub.extensions as ch
        ip = InteractiveShell.instance()
        shown = []
        ip.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
        ch.panel(only_if_loaded=True)
        before_load = len(shown)
        ip.run_line_magic("load_ext", "computehub.extensions")
        ch.panel(only_if_loaded=True)
        first = ch._panel_widget
        ch.panel()
        second = ch._panel_widget
        from computehub.extensions import session
        print(json.dumps({
            "before_load": before_load,
            "shown": len(shown),
            "widget_views": all("application/vnd.jupyter.widget-view+json" in d for d in shown),
            "first_closed": first.is_closed,
            "second_open": not second.is_closed,
            "sampler_running": session._sampler.running,
        }))
        ip.run_line_magic("unload_ext", "computehub.extensions")
        """
    )
    env = {
        "HOME": str(tmp_path),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "COMPUTEHUB_FAKE_GPUS": "1",
        "CUDA_VISIBLE_DEVICES": "0",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "before_load": 0,
        "shown": 3,  # %load_ext outside a kernel shows one too
        "widget_views": True,
        "first_closed": True,
        "second_open": True,
        "sampler_running": True,
    }
