"""The project's promises about itself: the public API, the configuration reference, the README, the CI entry."""

from pathlib import Path

from click.testing import CliRunner

import toolpark
import toolpark.testing
from toolpark.devtools.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_public_api_is_declared() -> None:
    assert sorted(toolpark.__all__) == [
        "Page",
        "Plugin",
        "PluginSettings",
        "RateLimit",
        "ToolContext",
        "ToolError",
        "paginate",
        "text_result",
    ]
    assert sorted(toolpark.testing.__all__) == [
        "RunningHost",
        "connect",
        "free_port",
        "http_client",
        "post_initialize",
        "serve_http",
    ]
    for name in toolpark.__all__:
        assert getattr(toolpark, name).__doc__, f"toolpark.{name} has no docstring"


def test_the_configuration_reference_matches_the_settings_models() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    documented = page.split("<!-- reference:start -->\n")[1].split("<!-- reference:end -->")[0]
    generated = CliRunner().invoke(main, ["config-reference"]).output
    assert documented == generated, "docs/configuration.md is stale: run ./scripts/config-reference"
    assert "PydanticUndefined" not in generated  # a default_factory's value is shown, e.g. `[]`
    assert "| `TOOLPARK_AUTH_OIDC_SCOPES` | `list[str]` | `['openid']` |" in generated


def test_the_readme_is_short() -> None:
    """What toolpark is, a picture, the commands and links; the rest is in docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_ci_runs_the_readme_test_command() -> None:
    assert "./scripts/test" in (ROOT / "README.md").read_text()
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()
