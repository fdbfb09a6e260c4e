"""The embedded services' port choice: SeaweedFS listens on each port and on port + 10000 (gRPC)."""

from __future__ import annotations

from toolpark.operations.embedded import free_ports


def test_no_chosen_port_is_another_ones_grpc_twin() -> None:
    """A master on P has its gRPC on P + 10000; a volume server given that port exits at once (CI saw it).

    200 ports from the ~28k ephemeral range meet a twin about once per draw when nothing prevents it.
    """
    for _ in range(5):
        ports = free_ports(200, below=50000)
        taken = set(ports)
        assert len(taken) == len(ports)
        assert not {port + 10000 for port in ports} & taken
