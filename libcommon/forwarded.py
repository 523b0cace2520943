"""Which proxies to believe: the client's address, scheme and host behind a reverse proxy.

`FORWARDED_ALLOW_IPS` lists the reverse proxies in front of a process (comma-separated
addresses or CIDR networks; `*` trusts every peer, an empty value none; default loopback,
so a local run keeps the contract's behaviour). Only a request whose TCP peer is one of them
may set the public scheme and host (`X-Forwarded-Proto` / `X-Forwarded-Host`, used in
`Location`) and the client address (`X-Forwarded-For`, used e.g. by rate limiting); from any
other peer these headers are ignored. A host (`Host` or `X-Forwarded-Host`) is honoured only
as a plain `name[:port]` / `[ipv6][:port]` with a port in 1..65535.

The one place that decides this: settings hold a `TrustedProxies` (`settings.
forwarded_allow_ips`) and everything else asks it, e.g.
`request.app[SETTINGS_KEY].forwarded_allow_ips.client_address(request)`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_ALLOW_IPS = "127.0.0.1,::1"
FORWARDED_PROTOS = frozenset({"http", "https"})
_HOST = re.compile(
    r"(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)


def is_valid_host(value: str) -> bool:
    """`name[:port]` or `[ipv6][:port]`, port 1..65535: safe to put into a URL as its authority."""
    match = _HOST.fullmatch(value)
    if match is None or len(value) > 255:
        return False
    name, port = match["name"], match["port"]
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return False
    return port is None or 1 <= int(port) <= 65535


def _parse_address(value: str) -> Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[::1]:1234" (RFC 7239 style)
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "1.2.3.4:5678"
        value = value.partition(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _first(value: str) -> str:
    # Proxies append: "https, http" -> the client-facing value is the first.
    return value.partition(",")[0].strip()


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The peers whose `X-Forwarded-*` headers are believed."""

    networks: tuple[Network, ...] = ()
    any_peer: bool = False

    @classmethod
    def parse(cls, spec: object) -> TrustedProxies:
        """From `FORWARDED_ALLOW_IPS`: "127.0.0.1,::1", "10.0.0.0/8, 192.168.1.7", "*" or ""."""
        if isinstance(spec, TrustedProxies):
            return spec
        if not isinstance(spec, str):
            raise ValueError("a comma-separated list of IP addresses or networks, or *")
        networks: list[Network] = []
        any_peer = False
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if item == "*":
                any_peer = True
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return cls(tuple(networks), any_peer)

    def __str__(self) -> str:
        return ",".join(["*"] * self.any_peer + [
            str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
            for net in self.networks
        ])

    def trusts(self, peer: str | None) -> bool:
        if self.any_peer:
            return True
        if not peer or not self.networks:
            return False
        address = _parse_address(peer)
        if address is None:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def _peer_is_trusted(self, request: web.Request) -> bool:
        return self.trusts(request.remote)

    def client_address(self, request: web.Request) -> str:
        """The client's IP: the TCP peer, or, behind trusted proxies, the right-most
        `X-Forwarded-For` entry that is not itself a trusted proxy (entries left of it could
        have been written by the client). An unparsable entry stops the walk there."""
        peer = request.remote or ""
        if not self._peer_is_trusted(request):
            return peer
        client = peer
        for header in reversed(request.headers.getall("X-Forwarded-For", [])):
            for entry in reversed(header.split(",")):
                address = _parse_address(entry)
                if address is None:
                    return client
                client = str(address)
                if not self.trusts(client):
                    return client
        return client

    def scheme(self, request: web.Request) -> str:
        """`http`/`https` as the client used it (`X-Forwarded-Proto` from a trusted proxy)."""
        if self._peer_is_trusted(request):
            proto = _first(request.headers.get("X-Forwarded-Proto", "")).lower()
            if proto in FORWARDED_PROTOS:
                return proto
        return request.scheme

    def host(self, request: web.Request) -> str | None:
        """The host[:port] the client addressed: `X-Forwarded-Host` from a trusted proxy, else
        `Host`; None when the one that applies is not a valid host[:port]."""
        if self._peer_is_trusted(request):
            forwarded = _first(request.headers.get("X-Forwarded-Host", ""))
            if forwarded and is_valid_host(forwarded):
                return forwarded
        host = request.headers.get("Host", "")
        return host if is_valid_host(host) else None
