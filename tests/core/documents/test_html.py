"""HTML conversion under load: no more pages converted at once than the process has cores."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from toolpark.documents import html

PAGE = (
    "<html><head><title>T</title></head><body><article>"
    + "<p>Some words of the page.</p>" * 200
    + "</article></body></html>"
)


def test_conversions_beyond_the_cores_wait_their_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    converting, most, lock = 0, 0, threading.Lock()
    convert = html._convert

    def counted(*args: object, **kwargs: object) -> html.Converted:
        nonlocal converting, most
        with lock:
            converting += 1
            most = max(most, converting)
        time.sleep(0.05)  # long enough for every thread to arrive while others convert
        try:
            return convert(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                converting -= 1

    monkeypatch.setattr(html, "_convert", counted)
    cores = len(os.sched_getaffinity(0))
    with ThreadPoolExecutor(cores + 6) as pool:
        done = list(pool.map(lambda _: html.convert_html(PAGE), range(3 * (cores + 6))))
    assert all("Some words of the page." in page.text for page in done)
    assert most == cores
