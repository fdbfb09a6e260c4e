"""The host's line split in front of sse_starlette's event encoder frames events as before."""

from __future__ import annotations

import re

import pytest
from sse_starlette.event import ServerSentEvent

from toolpark.host.runtime import PluginRuntime
from toolpark.host.serving import Host
from toolpark.host.sse import _LineSplit
from toolpark.plugins.everything import plugin as everything

BREAKS = re.compile(r"\r\n|\r|\n")  # the encoder's own pattern


@pytest.mark.parametrize(
    "data", ['{"jsonrpc":"2.0","id":1,"result":{}}', "one\ntwo\r\nthree\rfour", "\n", "", "x" * 100_000 + "\r\n"]
)
def test_events_are_framed_as_the_encoder_frames_them(data: str) -> None:
    Host([PluginRuntime.configure(everything)]).http_app()  # puts the split in front of the encoder
    assert isinstance(ServerSentEvent._LINE_SEP_EXPR, _LineSplit)
    lines = "".join(f"data: {line}\r\n" for line in BREAKS.split(data))
    assert ServerSentEvent(data=data, event="message", id="7").encode() == (
        f"id: 7\r\nevent: message\r\n{lines}\r\n".encode()
    )
    assert ServerSentEvent(data=data, event="mess\nage").encode().startswith(b"event: message\r\n")
