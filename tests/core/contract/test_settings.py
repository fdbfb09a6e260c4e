from pathlib import Path

import pytest
from pydantic import Field, SecretStr

from toolpark import Plugin, PluginSettings
from toolpark.contract.settings import SettingsError, UnknownSettingError, env_prefix, read_config, setting_rows
from toolpark.host.config import HostConfig, HostSettings
from toolpark.host.runtime import PluginRuntime


class WidgetSettings(PluginSettings):
    color: str = Field("red", description="Widget colour.")
    size: int = 1
    token: SecretStr | None = None


widget = Plugin("my-widget", version="1", description="d", settings=WidgetSettings)


def test_env_prefix_is_upper_snake() -> None:
    assert env_prefix("my-widget") == "TOOLPARK_MY_WIDGET_"


def test_defaults_then_toml_then_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_file = tmp_path / "toolpark.toml"
    config_file.write_text('[plugins.my-widget]\ncolor = "blue"\nsize = 2\n[host]\nport = 9000\n')
    monkeypatch.setenv("TOOLPARK_MY_WIDGET_SIZE", "3")
    config = read_config(config_file)
    settings = PluginRuntime.configure(widget, config).settings
    assert isinstance(settings, WidgetSettings)
    assert (settings.color, settings.size) == ("blue", 3)
    host = HostSettings.load(config["host"])
    assert host.listen.port == 9000


def test_config_file_named_by_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_file = tmp_path / "elsewhere.toml"
    config_file.write_text("[plugins.my-widget]\ncolor = 'green'\n")
    monkeypatch.setenv("TOOLPARK_CONFIG", str(config_file))
    assert read_config()["plugins"]["my-widget"]["color"] == "green"


def test_no_config_file_is_empty(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TOOLPARK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert read_config() == {}


def test_bad_value_names_the_env_var_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLPARK_MY_WIDGET_CALL_TIMEOUT_S", "-5")
    with pytest.raises(
        SettingsError, match=r"^TOOLPARK_MY_WIDGET_CALL_TIMEOUT_S \(`call_timeout_s` in toolpark.toml\): "
    ):
        PluginRuntime.configure(widget)


def test_unknown_toml_key_is_rejected() -> None:
    with pytest.raises(SettingsError, match=r"TOOLPARK_MY_WIDGET_COLOUR \(`colour` in toolpark.toml\): Extra inputs"):
        PluginRuntime.configure(widget, {"plugins": {"my-widget": {"colour": "blue"}}})


def test_a_misspelt_env_var_is_named_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignored, it would leave the default in force (a server on an embedded database, say)."""
    monkeypatch.setenv("TOOLPARK_MY_WIDGET_COLUOR", "blue")
    with pytest.raises(UnknownSettingError, match=r"TOOLPARK_MY_WIDGET_COLUOR .*did you mean TOOLPARK_MY_WIDGET_COLOR"):
        PluginRuntime.configure(widget)
    monkeypatch.delenv("TOOLPARK_MY_WIDGET_COLUOR")
    monkeypatch.setenv("TOOLPARK_AUTH_API_KEY", "[]")
    with pytest.raises(UnknownSettingError, match="did you mean TOOLPARK_AUTH_API_KEYS"):
        HostConfig.load({})


def test_rows_document_every_field_and_hide_secrets() -> None:
    rows = {row.env: row for row in setting_rows(WidgetSettings, env_prefix("my-widget"))}
    assert rows["TOOLPARK_MY_WIDGET_COLOR"].description == "Widget colour."
    assert rows["TOOLPARK_MY_WIDGET_COLOR"].default == "'red'"
    assert "TOOLPARK_MY_WIDGET_CALL_TIMEOUT_S" in rows
    assert rows["TOOLPARK_MY_WIDGET_TOKEN"].default == "None"


def test_from_values_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolpark.contract.settings import from_values

    monkeypatch.setenv("TOOLPARK_PORT", "1")
    monkeypatch.setenv("TOOLPARK_MY_WIDGET_SIZE", "9")
    assert HostSettings.of().listen.port == 8765
    assert from_values(WidgetSettings, {"color": "green"}).size == 1
    assert HostSettings.load({}).listen.port == 1


def test_the_host_settings_are_parts_of_one_concern_read_from_one_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """`[host]` and the `TOOLPARK_` env vars are as they were; the code reads them in parts."""
    monkeypatch.setenv("TOOLPARK_STATELESS", "true")
    host = HostSettings.load({"port": 9001, "task_ttl_s": 60, "log_level": "DEBUG"}, header_timeout_s=5)
    assert (host.listen.port, host.sessions.stateless, host.tasks.task_ttl_s) == (9001, True, 60)
    assert (host.logs.log_level, host.connections.header_timeout_s) == ("DEBUG", 5)
    with pytest.raises(TypeError, match="no \\[host\\] setting named prot"):
        HostSettings.of({"prot": 1})
