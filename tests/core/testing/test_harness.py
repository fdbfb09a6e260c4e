"""The test harness plugin authors use: `serve_http` (and so the `toolpark_http` fixture) takes a
plugin's settings in the shape `connect` takes them, and a name that is no plugin's is an error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from toolpark.plugins.everything import plugin as everything
from toolpark.plugins.notes import plugin as notes
from toolpark.testing import serve_http


def test_one_plugins_settings_by_field_name_as_connect_takes_them() -> None:
    with serve_http(everything, settings={"max_result_bytes": 4321}) as running:
        (runtime,) = running.host.runtimes
        assert runtime.settings.max_result_bytes == 4321
    with serve_http(everything, settings={"everything": {"max_result_bytes": 1234}}) as running:
        assert running.host.runtimes[0].settings.max_result_bytes == 1234


def test_a_setting_or_plugin_that_does_not_exist_is_an_error_not_ignored() -> None:
    with pytest.raises(ValidationError, match="max_reslt_bytes"):
        serve_http(everything, settings={"max_reslt_bytes": 1}).__enter__()
    with pytest.raises(TypeError, match="settings for evrything, which is not a served plugin"):
        serve_http([everything, notes], settings={"evrything": {}}).__enter__()
