"""``ComputeHubSpawner`` offers only the settings that take effect, and is named.

batchspawner's template, shell-command and state-regex settings (and JupyterHub's
``cmd``, ``args``, ``ip``, ``port``) do nothing in computehub: they are not
configurable, so ``jupyterhub --help-all`` does not list them and a config that sets
them gets traitlets' warning. The hub's wiring registers the API handlers in one
call, and the entry points name the spawner and the authenticators.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from jupyterhub.apihandlers import default_handlers
from traitlets.config import Config

from computehub.auth.dummy import ComputeHubDummyAuthenticator
from computehub.auth.ldap import ComputeHubLDAPAuthenticator
from computehub.auth.oidc import ComputeHubOIDCAuthenticator
from computehub.spawners import api, estimate, extend, gpuactivity
from computehub.spawners.batchbase import (
    IGNORED_BATCHSPAWNER_SETTINGS,
    IGNORED_SPAWNER_SETTINGS,
)
from computehub.spawners.handlers import register_api_handlers
from computehub.spawners.spawner import ComputeHubSpawner

#: Every setting of ComputeHubSpawner, each one read by computehub or JupyterHub.
SETTINGS_THAT_TAKE_EFFECT = {
    # computehub's own
    "site_file",
    "slurm_bin_dir",
    "sudo_command",
    "settle_wait_s",
    "free_gpus_cache_s",
    "queue_interval_s",
    "poll_listing_age_s",
    "controller_check_s",
    "ticket_ttl_s",
    # batchspawner's start loop
    "startup_poll_interval",
    # JupyterHub's: its spawn/poll loop, hooks, scopes and the job's environment
    "apply_user_options",
    "auth_state_hook",
    "consecutive_failure_limit",
    "cpu_guarantee",
    "cpu_limit",
    "debug",
    "default_url",
    "disable_user_config",
    "env_keep",
    "environment",
    "group_overrides",
    "http_timeout",
    "hub_connect_url",
    "mem_guarantee",
    "mem_limit",
    "notebook_dir",
    "oauth_client_allowed_scopes",
    "oauth_roles",
    "options_form",
    "poll_interval",
    "poll_jitter",
    "post_stop_hook",
    "pre_spawn_hook",
    "progress_ready_hook",
    "server_token_scopes",
    "ssl_alt_names",
    "ssl_alt_names_include_local",
    "start_timeout",
}


def test_only_settings_that_take_effect_are_configurable() -> None:
    assert set(ComputeHubSpawner.class_traits(config=True)) == SETTINGS_THAT_TAKE_EFFECT


def test_every_batchspawner_setting_but_its_poll_interval_is_ignored() -> None:
    from batchspawner.batchspawner import SlurmSpawner
    from jupyterhub.spawner import Spawner

    batchspawners_own = set(SlurmSpawner.class_traits(config=True)) - set(
        Spawner.class_traits(config=True)
    )
    assert batchspawners_own - set(IGNORED_BATCHSPAWNER_SETTINGS) == {"startup_poll_interval"}
    assert len(IGNORED_BATCHSPAWNER_SETTINGS) == 28
    configurable = set(ComputeHubSpawner.class_traits(config=True))
    assert configurable.isdisjoint(IGNORED_BATCHSPAWNER_SETTINGS + IGNORED_SPAWNER_SETTINGS)


def test_a_setting_that_takes_effect_is_set_from_a_config_and_an_ignored_one_is_not() -> None:
    config = Config()
    config.ComputeHubSpawner.settle_wait_s = 3.5
    config.SlurmSpawner.startup_poll_interval = 0.75
    config.Spawner.default_url = "/tree"
    config.SlurmSpawner.req_partition = "gpu"
    config.SlurmSpawner.exec_prefix = "sudo -u {username}"
    config.Spawner.cmd = ["/bin/sh"]
    spawner = ComputeHubSpawner(config=config)
    assert spawner.settle_wait_s == 3.5
    assert spawner.startup_poll_interval == 0.75
    assert spawner.default_url == "/tree"
    assert spawner.req_partition == ""
    assert spawner.exec_prefix == ""
    assert spawner.cmd == ["jupyterhub-singleuser"]


def test_the_help_lists_no_ignored_setting() -> None:
    text = "\n".join(ComputeHubSpawner.class_get_help().splitlines())
    assert "--ComputeHubSpawner.settle_wait_s" in text
    for name in IGNORED_BATCHSPAWNER_SETTINGS + IGNORED_SPAWNER_SETTINGS:
        assert f"--ComputeHubSpawner.{name}=" not in text


def test_one_call_registers_our_handlers_in_place_of_batchspawners() -> None:
    import batchspawner.api

    register_api_handlers()
    register_api_handlers()  # a second call (a reloaded config) changes nothing
    table = {path: handler for path, handler in default_handlers}
    assert table[api.PATH] is api.PortReportHandler
    assert table[extend.PATH] is extend.ExtendHandler
    assert table[estimate.PATH] is estimate.EstimateHandler
    assert table[gpuactivity.PATH] is gpuactivity.GpuActivityHandler
    assert batchspawner.api.BatchSpawnerAPIHandler not in table.values()
    paths = [path for path, _ in default_handlers]
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize(
    ("group", "name", "cls"),
    [
        ("jupyterhub.spawners", "computehub", ComputeHubSpawner),
        ("jupyterhub.authenticators", "computehub-ldap", ComputeHubLDAPAuthenticator),
        ("jupyterhub.authenticators", "computehub-oidc", ComputeHubOIDCAuthenticator),
        ("jupyterhub.authenticators", "computehub-dummy", ComputeHubDummyAuthenticator),
    ],
)
def test_the_entry_points_load_our_classes(group: str, name: str, cls: type) -> None:
    (found,) = entry_points(group=group, name=name)
    assert found.load() is cls


@pytest.mark.parametrize(
    ("trait", "name", "cls"),
    [
        ("spawner_class", "computehub", ComputeHubSpawner),
        ("authenticator_class", "computehub-ldap", ComputeHubLDAPAuthenticator),
        ("authenticator_class", "computehub-oidc", ComputeHubOIDCAuthenticator),
        ("authenticator_class", "computehub-dummy", ComputeHubDummyAuthenticator),
    ],
)
def test_jupyterhub_resolves_the_names(trait: str, name: str, cls: type) -> None:
    from jupyterhub.app import JupyterHub

    config = Config()
    setattr(config.JupyterHub, trait, name)
    assert getattr(JupyterHub(config=config), trait) is cls
