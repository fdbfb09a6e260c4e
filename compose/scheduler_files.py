"""What the scheduler reads beside the rendered stack: the spec it schedules by, and the target it
was rendered for (`toolpark.compose.scheduler.service`)."""

from __future__ import annotations

import json

from toolpark.compose.topology import Topology

__all__ = ["SPEC_FILE", "scheduler_files"]

SPEC_FILE = "scheduler/spec.json"


def scheduler_files(topology: Topology, target: str) -> dict[str, str]:
    return {SPEC_FILE: json.dumps({"target": target, "spec": topology.spec.model_dump(mode="json")}, indent=2)}
