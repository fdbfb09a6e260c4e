"""Replicas of one server share their tasks in PostgreSQL (`shared_database_url`), so whichever
replica a load balancer picks answers for a task another one runs: reads it, cancels it, answers
its questions; and a task whose replica stopped ends `failed`, saying why.

The hosts here run in this process against the embedded PostgreSQL; tests/stack/test_replicas.py
kills a replica's process behind Caddy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.core.taskwire import AUTH, get, request, settled, start
from toolpark.operations.embedded import postgres
from toolpark.plugins.everything import plugin as everything
from toolpark.testing import RunningHost, serve_http

KEY = "a-shared-secret-of-the-deployment"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres(tmp_path_factory.mktemp("pg")) as service:
        yield service.url


def replica(toolpark_http: Callable[..., RunningHost], database: str, **options: object) -> RunningHost:
    return toolpark_http(everything, auth=AUTH, stateless=True, state_key=KEY, shared_database_url=database, **options)


def test_any_replica_reads_and_cancels_a_task_another_runs(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    first, second = replica(toolpark_http, database), replica(toolpark_http, database)
    task = start(first, "ada", 600)
    assert get(second, "ada", task["taskId"])["result"]["status"] == "working"
    assert get(second, "bob", task["taskId"])["error"]["code"] == -32602  # still the caller's alone
    assert request(second, "ada", "tasks/cancel", {"taskId": task["taskId"]})["result"]["resultType"] == "complete"
    assert settled(first, "ada", task["taskId"])["status"] == "cancelled"
    runtime = first.host.runtimes[0]
    for _ in range(100):  # the cancel reached the work on the first replica: it left its slot
        if runtime.limiter.borrowed_tokens == 0:
            break
        time.sleep(0.05)
    assert runtime.limiter.borrowed_tokens == 0
    quick = start(first, "ada", 0.2)
    assert settled(second, "ada", quick["taskId"])["result"]["content"][0]["text"].endswith("done after 0.2 s")


def test_a_question_asked_on_one_replica_is_answered_on_another(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    first, second = replica(toolpark_http, database), replica(toolpark_http, database)
    call = {"name": "confirm_delete", "arguments": {"filename": "plans.txt"}}
    task = request(first, "ada", "tools/call", call)["result"]
    for _ in range(100):
        seen = get(second, "ada", task["taskId"])["result"]
        if seen["status"] == "input_required":
            break
        time.sleep(0.05)
    assert seen["status"] == "input_required", seen
    (key,) = seen["inputRequests"]
    answer = {"action": "accept", "content": {"confirm": True}}
    request(second, "ada", "tasks/update", {"taskId": task["taskId"], "inputResponses": {key: answer}})
    done = settled(second, "ada", task["taskId"])
    assert done["status"] == "completed" and done["result"]["content"][0]["text"] == "plans.txt: deleted"


def test_the_bound_on_running_tasks_holds_across_replicas(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    first, second = (replica(toolpark_http, database, tasks_per_caller=1) for _ in range(2))
    running = start(first, "bob", 600)
    refused = start(second, "bob", 1)
    assert refused["isError"] and "already have 1 tasks running" in refused["content"][0]["text"]
    request(second, "bob", "tasks/cancel", {"taskId": running["taskId"]})
    assert settled(first, "bob", running["taskId"])["status"] == "cancelled"


def test_a_task_of_a_replica_that_stopped_ends_failed_saying_why(
    toolpark_http: Callable[..., RunningHost], database: str
) -> None:
    survivor = replica(toolpark_http, database)
    options = {"stateless": True, "state_key": KEY, "shared_database_url": database}
    with serve_http(everything, auth=AUTH, **options) as leaving:
        task = start(leaving, "ada", 600)
    ended = settled(survivor, "ada", task["taskId"])
    assert ended["status"] == "failed"
    assert "server running this task stopped" in ended["error"]["message"]
    assert "slow_compute" in ended["error"]["message"]
