"""Which IP addresses outbound requests may reach: public unicast only, unless an operator opens more.

Every form that smuggles a private IPv4 address inside IPv6 (IPv4-mapped, IPv4-compatible,
6to4, NAT64, Teredo) is judged by the address it carries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["IPAddress", "Openings", "blocked_reason"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Instance-metadata endpoints of the big clouds; most are link-local or private already, the
# ones listed are not caught by the ranges alone on every platform.
_METADATA = {
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
}


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address, or None when it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return "NAT64 local-use"
        if ip in _IPV4_COMPATIBLE and int(ip) > 1:
            return "IPv4-compatible (deprecated)"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            form, inner = embedded
            reason = blocked_reason(inner)
            return f"{form} {reason}" if reason else None
    if ip in _METADATA:
        return "cloud metadata service"
    for reason, test in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared address space (CGNAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),
    ):
        if test:
            return reason
    return None


@dataclass(frozen=True)
class Openings:
    """Destinations an operator allows although they are not public: for intranets and tests.

    Entries are host names (`wiki.internal`), `host:port`, IP addresses or CIDR networks.
    """

    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Openings:
        hosts, networks = set(), []
        for entry in (e.strip().lower() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, port: int, ip: IPAddress) -> bool:
        host = host.lower()
        if host in self.hosts or f"{host}:{port}" in self.hosts:
            return True
        return any(ip in network for network in self.networks if network.version == ip.version)
