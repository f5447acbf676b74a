"""Which callback targets are allowed: never link-local or cloud metadata; private ranges by setting."""

import ipaddress
from urllib.parse import urlsplit

# Cloud metadata services reachable by name or by addresses outside the link-local range.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


class UnsafeTarget(ValueError):
    pass


def check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_private: bool) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES or address.is_link_local:
        raise UnsafeTarget("must not point to a link-local or cloud metadata address")
    if address.is_multicast or address.is_unspecified:
        raise UnsafeTarget("must point to a unicast address")
    if address.is_loopback or address.is_private:
        if not allow_private:
            raise UnsafeTarget("must not point to a loopback or private address on this server")
        return
    if address.is_reserved:  # checked after loopback: ::1 sits in a reserved block
        raise UnsafeTarget("must point to a unicast address")


def check_url(url: str, *, allow_private: bool) -> None:
    """Checks what can be known without DNS: scheme, host, and a literal IP. Delivery re-checks resolved IPs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise UnsafeTarget("must be a valid http or https URL") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeTarget("must be a valid http or https URL")
    if host.rstrip(".").lower() in METADATA_HOSTS:
        raise UnsafeTarget("must not point to a link-local or cloud metadata address")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    check_address(address, allow_private=allow_private)
