"""Which callback targets are allowed: never link-local or cloud metadata; private ranges by setting."""

import ipaddress
import re
import socket
from urllib.parse import urlsplit

# Cloud metadata services reachable by name or by addresses outside the link-local range.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


# IPv4 as the C resolver also reads it: decimal (2852039166), hex (0xa9fea9fe), octal and short forms.
LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(ValueError):
    pass


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to the same host: mapped, 6to4 or NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_address(address: Address, *, allow_private: bool) -> None:
    if isinstance(address, ipaddress.IPv6Address) and (inner := embedded_ipv4(address)) is not None:
        address = inner
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
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTS:
        raise UnsafeTarget("must not point to a link-local or cloud metadata address")
    if (name == "localhost" or name.endswith(".localhost")) and not allow_private:
        raise UnsafeTarget("must not point to a loopback or private address on this server")
    address = literal_address(name)
    if address is not None:
        check_address(address, allow_private=allow_private)


def literal_address(name: str) -> Address | None:
    """The address a host name spells out (as connecting to it would read it), or None for a real name."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    if LEGACY_IPV4.fullmatch(name):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            raise UnsafeTarget("must be a valid http or https URL") from None  # not an address, not a name
    return None
