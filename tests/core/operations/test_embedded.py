"""The embedded services' port choice: SeaweedFS listens on each port and on port + 10000 (gRPC);
the processes target's public sites take consecutive ports."""

from __future__ import annotations

import socket

import pytest

from toolpark.operations.embedded import free_block, free_ports


def test_no_chosen_port_is_another_ones_grpc_twin() -> None:
    """A master on P has its gRPC on P + 10000; a volume server given that port exits at once (CI saw it).

    200 ports from the ~28k ephemeral range meet a twin about once per draw when nothing prevents it.
    """
    for _ in range(5):
        ports = free_ports(200, below=50000)
        taken = set(ports)
        assert len(taken) == len(ports)
        assert not {port + 10000 for port in ports} & taken


def test_a_block_of_ports_is_free_and_avoids_ports_already_chosen() -> None:
    chosen = free_ports(10, below=40000)
    for _ in range(20):
        first = free_block(4, avoid=chosen)
        assert not set(range(first, first + 4)) & set(chosen)
        for port in range(first, first + 4):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))  # free
    with pytest.raises(RuntimeError, match="no 4 consecutive free ports"):
        free_block(4, avoid=range(65536))
