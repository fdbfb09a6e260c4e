"""Every file of a deployment, as text, from a spec and its secrets: pure, writes nothing.

`toolpark.compose.files` writes them; tests compare them with golden files and run the real validators.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import yaml

from toolpark.compose.caddy import caddyfile
from toolpark.compose.dockerfile import dockerfile
from toolpark.compose.keycloak import realm
from toolpark.compose.librechat import librechat_config
from toolpark.compose.litellm import litellm_config
from toolpark.compose.postgres import init_script
from toolpark.compose.processes import CONFIG, supervisor_config
from toolpark.compose.scheduler.files import scheduler_files
from toolpark.compose.scheduler.providers.local import local_config
from toolpark.compose.secrets import format_env
from toolpark.compose.spec import Deployment
from toolpark.compose.stack import compose_file, compose_path
from toolpark.compose.topology import Topology

__all__ = ["ENV_FILE", "TARGETS", "Target", "render"]

Target = Literal["compose", "processes"]
TARGETS: tuple[Target, ...] = ("compose", "processes")

ENV_FILE = ".env"
_HEADER = "# Rendered by `toolpark compose render` from the deployment spec: change the spec, not this file.\n"


def _yaml(document: Mapping[str, Any]) -> str:
    return _HEADER + yaml.safe_dump(dict(document), sort_keys=False, width=120, allow_unicode=True)


def render(spec: Deployment, secrets: Mapping[str, str], target: Target = "compose") -> dict[str, str]:
    """Relative path -> content. Compose: the whole folder goes to every node; each runs its own
    compose file. Processes: the folder runs on this machine under supervisord."""
    topology = Topology(spec, loopback=target == "processes")
    if target == "processes":
        files = {CONFIG: supervisor_config(topology)}
        if node := spec.scheduled_node:
            files[local_config(node)] = supervisor_config(topology, node)
    else:
        files = {compose_path(spec, node): _yaml(compose_file(topology, node)) for node in spec.nodes}
        files["toolpark/Dockerfile"] = dockerfile(spec)
    files["caddy/Caddyfile"] = "# Rendered by `toolpark compose render`: change the spec, not this file.\n"
    files["caddy/Caddyfile"] += caddyfile(topology)
    if spec.librechat.enabled:
        files["librechat/librechat.yaml"] = _yaml(librechat_config(topology))
    files["postgres/init-databases.sh"] = init_script(spec)
    if spec.litellm.enabled:
        files["litellm/config.yaml"] = _yaml(litellm_config(topology))
    if spec.keycloak.enabled:
        files["keycloak/realm.json"] = json.dumps(realm(spec), indent=2) + "\n"
    if spec.scheduled_node:
        files |= scheduler_files(topology, target)
    files[ENV_FILE] = format_env(secrets)
    return files
