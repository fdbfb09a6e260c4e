"""The rendered files pass the real tools that read them: LibreChat's schema package, the
compose-spec JSON schema, `caddy adapt`, Keycloak's realm representation types, and
`cloud-init schema` (Debian's cloud-init). Each
validator is also shown to reject a broken file, so a pass means something."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.rendering import SPECS, rendered
from tests.nodejs import NODE_DIR, node_binary
from toolpark.compose.render import ENV_FILE
from toolpark.compose.secrets import parse_env
from toolpark.compose.targets.compose import TOKEN_PLACEHOLDER

CASES = sorted(SPECS)


def librechat_report(config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(node_binary()), "librechat-config.mjs"],
        cwd=NODE_DIR, input=json.dumps(config), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.node
@pytest.mark.parametrize("case", CASES)
def test_librechat_yaml_passes_librechats_schema(case: str) -> None:
    config = yaml.safe_load(rendered(case)["librechat/librechat.yaml"])
    report = librechat_report(config)
    assert report == {"issues": [], "stripped": [], "endpoints": [[] for _ in config["endpoints"]["custom"]]}


@pytest.mark.node
def test_librechat_validator_catches_what_config_schema_lets_through() -> None:
    config = yaml.safe_load(rendered("single-node")["librechat/librechat.yaml"])
    config["mcpServers"]["web"]["tiemout"] = 5  # a misspelt key configSchema would strip silently
    config["endpoints"]["custom"][0].pop("apiKey")  # configSchema checks custom endpoints only partly
    report = librechat_report(config)
    assert report["stripped"] == ["mcpServers.web.tiemout"]
    assert report["endpoints"][0] == ["endpoints.custom.0.apiKey: Required"]
    config["mcpServers"]["web"]["url"] = "not a url"  # configSchema throws on this one
    assert any("threw" in issue for issue in librechat_report(config)["issues"])


def _write(files: dict[str, str], folder: Path) -> Path:
    for path, text in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    return folder


def _check_compose(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec"]
    return subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("case", CASES)
def test_compose_files_pass_the_compose_spec_schema(case: str, tmp_path: Path) -> None:
    files = rendered(case)
    _write(files, tmp_path)
    composes = sorted(tmp_path.glob("compose*.yaml"))
    assert composes
    done = _check_compose(composes)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    document = yaml.safe_load(rendered("single-node")["compose.yaml"])
    document["services"]["postgres"]["restrat"] = "always"  # misspelt: compose would reject it
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(document))
    assert _check_compose([tmp_path / "compose.yaml"]).returncode != 0


def _services(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = {}
    for path, text in files.items():
        if path.startswith("compose"):
            services |= yaml.safe_load(text)["services"]
    return services


# Files read inside a container resolve their variables from that container's environment.
_CONSUMERS = {
    "librechat/librechat.yaml": ("librechat", r"\$\{([A-Z_][A-Z0-9_]*)\}"),
    "litellm/config.yaml": ("litellm", r"os\.environ/([A-Z_][A-Z0-9_]*)"),
    "keycloak/realm.json": ("keycloak", r"\$\{([A-Z_][A-Z0-9_]*)\}"),
    "postgres/init-databases.sh": ("postgres", r"\$([A-Z][A-Z0-9_]*)_DB_PASSWORD"),
}


@pytest.mark.parametrize("case", CASES)
def test_every_variable_is_defined_where_it_is_read(case: str) -> None:
    files = rendered(case)
    defined = parse_env(files[ENV_FILE])
    services = _services(files)
    for path, text in files.items():
        if path.startswith("compose"):  # docker compose fills these from .env
            for name in re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text):
                assert name in defined, f"{path} uses ${{{name}}}, which .env does not define"
        elif path in _CONSUMERS:
            service, pattern = _CONSUMERS[path]
            environment = services[service]["environment"]
            names = re.findall(pattern, text)
            if path.startswith("postgres"):
                names = [f"{n}_DB_PASSWORD" for n in names]
            assert names, f"{path} reads no variable: the pattern is stale"
            for name in names:
                assert name in environment, f"{path} reads {name}, which service {service} is not given"


def caddy_adapt(caddyfile: str, folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "Caddyfile").write_text(caddyfile)
    command = ["caddy", "adapt", "--config", str(folder / "Caddyfile"), "--adapter", "caddyfile"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("case", CASES)
def test_caddyfile_adapts_with_caddy(case: str, tmp_path: Path) -> None:
    done = caddy_adapt(rendered(case)["caddy/Caddyfile"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"handler":"reverse_proxy"' in done.stdout
    assert '"flush_interval"' not in done.stdout  # -1 cut responses short under load (see compose/caddy.py)


def test_caddy_adapt_rejects_a_broken_caddyfile(tmp_path: Path) -> None:
    assert caddy_adapt(rendered("single-node")["caddy/Caddyfile"] + "\nbroken {\n", tmp_path).returncode != 0


def realm_check(realm: dict[str, Any], folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "realm.json").write_text(json.dumps(realm))
    command = [str(node_binary()), "keycloak-realm.mjs", str(folder / "realm.json")]
    return subprocess.run(command, cwd=NODE_DIR, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.node
def test_realm_matches_keycloaks_realm_representation(tmp_path: Path) -> None:
    realm = json.loads(rendered("entry-gpu")["keycloak/realm.json"])
    done = realm_check(realm, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    realm["clients"][0]["redirectUri"] = "https://x"  # Keycloak's key is redirectUris
    done = realm_check(realm, tmp_path)
    assert done.returncode == 1 and "redirectUri" in done.stdout


def cloud_init_schema(text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "user-data.yaml").write_text(text)
    command = ["cloud-init", "schema", "--config-file", str(folder / "user-data.yaml")]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_gpu_nodes_cloud_init_passes_cloud_inits_schema_and_holds_no_secret(tmp_path: Path) -> None:
    files = rendered("entry-gpu")
    user_data = files["scheduler/gpu.cloud-init.yaml"]
    done = cloud_init_schema(user_data, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    secrets = [value for value in parse_env(files[ENV_FILE]).values() if len(value) >= 8]
    assert secrets and not [value for value in secrets if value in user_data]
    # What the node needs instead: the place of its files and a token the scheduler fills in per node.
    assert "http://10.0.0.1:8190/bootstrap" in user_data and TOKEN_PLACEHOLDER in user_data
    assert cloud_init_schema(user_data.replace("packages:", "packages: 5\nx:"), tmp_path).returncode != 0
