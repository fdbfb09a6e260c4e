"""`toolpark gpu plan`: the API calls the scheduler's provider would make for the spec's node.

The provider's own SDK runs, so what is printed is what it would send (bodies, paths, label
selectors, the user data's size), but nothing leaves the machine: the SDK's HTTP layer is
answered from the provider's recorded exchanges (`toolpark.compose.scheduler.replay`).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping as MappingABC
from datetime import UTC, datetime
from pathlib import Path

from toolpark.compose.checks import Problem, SpecError
from toolpark.compose.providers import NodeRequest, ProviderContext, load_provider, node_labels
from toolpark.compose.scheduler.reconciler import node_name
from toolpark.compose.scheduler.replay import Replay, recorded
from toolpark.compose.spec import Deployment
from toolpark.compose.targets.compose import cloud_init
from toolpark.compose.targets.processes import local_config
from toolpark.compose.topology import Topology

__all__ = ["plan_calls"]


# Placeholders in the formats the SDKs check before they send anything.
_PLACEHOLDERS = {"SCW_ACCESS_KEY": "SCWDRYRUN00000000000", "SCW_SECRET_KEY": "00000000-0000-4000-8000-000000000000"}


class _DryRunSecrets(MappingABC[str, str]):
    """Every secret a provider asks for, as a placeholder: a dry run needs no token."""

    def __getitem__(self, key: str) -> str:
        return _PLACEHOLDERS.get(key, "dry-run")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def plan_calls(spec: Deployment) -> list[str]:
    node = spec.scheduled_node
    if node is None:
        raise SpecError([Problem("nodes", "no node has lifecycle = 'scheduled': there is nothing to schedule")])
    settings = spec.scheduler
    if settings.provider == "local":
        return [
            f"local: no API. Creating starts `supervisord -c {local_config(node)}` in the rendered folder "
            f"(the processes target) with the node's labels in its environment; deleting sends it SIGTERM."
        ]
    try:
        answers = recorded(settings.provider)
    except FileNotFoundError:
        return [f"{settings.provider}: no recorded answers ship with this provider; a dry run needs them"]
    context = ProviderContext(spec.name, node, Path("."), _DryRunSecrets())
    provider = load_provider(settings.provider, settings.provider_settings, context)
    labels = node_labels(spec.name, node)
    request = NodeRequest(
        node_name(spec.name, node, datetime.now(UTC)),
        cloud_init(Topology(spec), node),
        labels,
        spec.nodes[node].address,
    )
    lines: list[str] = []
    with Replay(answers["find"], strict=False) as replay:
        provider.find(labels)
    lines += ["# find the deployment's node by its labels", *map(str, replay.sent)]
    with Replay(answers["create"], strict=False) as replay:
        created = provider.create(request)
    lines += ["# create it: the user data holds a one-time token, no secret", *map(str, replay.sent)]
    with Replay(answers["delete"], strict=False) as replay:
        provider.delete(created.id)
        provider.gone(created.id)
    lines += ["# delete it, then ask until it is gone", *map(str, replay.sent)]
    return lines
