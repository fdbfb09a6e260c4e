"""Addresses outbound requests must never reach, shared by the egress suite and every fetching tool's."""

# (host as written in a URL, the reason the refusal names)
NON_PUBLIC = [
    ("127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "cloud metadata service"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "shared address space (CGNAT)"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "private"),
    ("0.0.0.0", "unspecified"),
    ("[::1]", "loopback"),
    ("[fe80::1]", "link-local"),
    ("[fc00::1]", "private"),
    ("[ff02::1]", "multicast"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped loopback"),
    ("[::ffff:10.0.0.1]", "IPv4-mapped private"),
    ("[64:ff9b::a9fe:a9fe]", "NAT64 cloud metadata service"),
    ("[2002:c0a8:101::1]", "6to4 private"),
    ("[::127.0.0.1]", "IPv4-compatible (deprecated)"),
    ("[fd00:ec2::254]", "cloud metadata service"),
]

SPELLINGS_OF_LOOPBACK = ["2130706433", "0177.0.0.1", "0x7f000001", "127.1", "0x7f.1"]
