"""pytest fixtures for plugin authors, registered through the `pytest11` entry point.

`toolpark_http` starts the real HTTP host and stops it when the test ends:

```python
def test_over_http(toolpark_http):
    running = toolpark_http(plugin, settings={"path": "/tmp/x"})  # the plugin's settings, as `connect` takes them
    ...  # connect mcp.Client(running.url("notes"))
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from toolpark.testing import RunningHost, serve_http


@pytest.fixture
def toolpark_http() -> Iterator[Callable[..., RunningHost]]:
    """A factory that serves plugins over HTTP for the length of the test."""
    with ExitStack() as stack:

        def start(plugins: Any, **options: Any) -> RunningHost:
            return stack.enter_context(serve_http(plugins, **options))

        yield start
