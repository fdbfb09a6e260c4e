"""Every file of a deployment, as text, from a spec and its secrets: pure, writes nothing.

The target renders its own files (`toolpark.compose.targets`); the ones every target shares are
rendered here. `toolpark.compose.files` writes them; tests compare them with golden files and run
the real validators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from toolpark.compose.caddy import caddyfile
from toolpark.compose.formats import yaml_file
from toolpark.compose.keycloak import realm
from toolpark.compose.librechat import librechat_config
from toolpark.compose.litellm import litellm_config
from toolpark.compose.openwebui import openwebui_files
from toolpark.compose.postgres import init_script
from toolpark.compose.scheduler_files import scheduler_files
from toolpark.compose.secrets import format_env
from toolpark.compose.spec import Deployment
from toolpark.compose.targets import target_named
from toolpark.compose.topology import Topology

__all__ = ["ENV_FILE", "render"]

ENV_FILE = ".env"


def render(spec: Deployment, secrets: Mapping[str, str], target: str = "compose") -> dict[str, str]:
    """Relative path -> content, for the target named `target`."""
    chosen = target_named(target)
    topology = Topology(spec, chosen.addressing)
    files = chosen.render(topology)
    files["caddy/Caddyfile"] = "# Rendered by `toolpark compose render`: change the spec, not this file.\n"
    files["caddy/Caddyfile"] += caddyfile(topology)
    if spec.librechat.enabled:
        files["librechat/librechat.yaml"] = yaml_file(librechat_config(topology))
    if spec.openwebui.enabled:
        files |= openwebui_files()
    files["postgres/init-databases.sh"] = init_script(spec)
    if spec.litellm.enabled:
        files["litellm/config.yaml"] = yaml_file(litellm_config(topology))
    if spec.keycloak.enabled:
        files["keycloak/realm.json"] = json.dumps(realm(spec), indent=2) + "\n"
    if spec.scheduled_node:
        files |= scheduler_files(topology, chosen.name)
    files[ENV_FILE] = format_env(secrets)
    return files
