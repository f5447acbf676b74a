"""Which callback targets are allowed: never link-local or cloud metadata; private ranges by setting.

Every address is classed by the IANA registries, not by Python's `is_private` flags (which miss ranges such as
100.64.0.0/10 and disagree between Python versions): link-local and metadata are always refused; ranges that
cannot be a destination at all (documentation, "this network", broadcast, multicast, reserved) are always
refused; loopback and every other range that is not globally reachable (private use, shared address space,
benchmarking, unique-local, ...) pass only while `callback_allow_private` is on; the rest of the space passes.
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

# Cloud metadata services reachable by name or by addresses outside the link-local range.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)

# IPv4 as the C resolver also reads it: decimal (2852039166), hex (0xa9fea9fe), octal and short forms.
LEGACY_IPV4 = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LINK_LOCAL = "must not point to a link-local or cloud metadata address"
NOT_UNICAST = "must point to a unicast address"
PRIVATE = "must not point to a loopback or private address on this server"


class UnsafeTarget(ValueError):
    pass


@dataclass(frozen=True)
class Block:
    """One entry of a registry. None stands for the registry's "N/A" (deprecated or tunnelled blocks)."""

    network: Network
    name: str
    forwardable: bool | None
    globally_reachable: bool | None
    reserved_by_protocol: bool = False


def _block(
    network: str, name: str, forwardable: bool | None, globally_reachable: bool | None, reserved: bool = False
) -> Block:
    return Block(ipaddress.ip_network(network), name, forwardable, globally_reachable, reserved)


T, F, NA = True, False, None
# "IANA IPv4 Special-Purpose Address Registry" and "IANA IPv6 Special-Purpose Address Registry"
# (https://www.iana.org/assignments/iana-ipv4-special-registry, .../iana-ipv6-special-registry, as of 2025-10),
# every entry, with its Forwardable, Globally Reachable and Reserved-by-Protocol columns. The most specific
# block that holds an address decides.
SPECIAL_PURPOSE = (
    _block("0.0.0.0/8", '"This network"', F, F, reserved=T),
    _block("0.0.0.0/32", '"This host on this network"', F, F, reserved=T),
    _block("10.0.0.0/8", "Private-Use", T, F),
    _block("100.64.0.0/10", "Shared Address Space", T, F),
    _block("127.0.0.0/8", "Loopback", F, F, reserved=T),
    _block("169.254.0.0/16", "Link Local", F, F, reserved=T),
    _block("172.16.0.0/12", "Private-Use", T, F),
    _block("192.0.0.0/24", "IETF Protocol Assignments", F, F),
    _block("192.0.0.0/29", "IPv4 Service Continuity Prefix", T, F),
    _block("192.0.0.8/32", "IPv4 dummy address", F, F),
    _block("192.0.0.9/32", "Port Control Protocol Anycast", T, T),
    _block("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", T, T),
    _block("192.0.0.170/32", "NAT64/DNS64 Discovery", F, F, reserved=T),
    _block("192.0.0.171/32", "NAT64/DNS64 Discovery", F, F, reserved=T),
    _block("192.0.2.0/24", "Documentation (TEST-NET-1)", F, F),
    _block("192.31.196.0/24", "AS112-v4", T, T),
    _block("192.52.193.0/24", "AMT", T, T),
    _block("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", NA, NA),
    _block("192.88.99.2/32", "6a44-relay anycast address", T, F),
    _block("192.168.0.0/16", "Private-Use", T, F),
    _block("192.175.48.0/24", "Direct Delegation AS112 Service", T, T),
    _block("198.18.0.0/15", "Benchmarking", T, F),
    _block("198.51.100.0/24", "Documentation (TEST-NET-2)", F, F),
    _block("203.0.113.0/24", "Documentation (TEST-NET-3)", F, F),
    _block("240.0.0.0/4", "Reserved", F, F, reserved=T),
    _block("255.255.255.255/32", "Limited Broadcast", F, F, reserved=T),
    _block("::1/128", "Loopback Address", F, F, reserved=T),
    _block("::/128", "Unspecified Address", F, F, reserved=T),
    _block("::ffff:0:0/96", "IPv4-mapped Address", F, F, reserved=T),
    _block("64:ff9b::/96", "IPv4-IPv6 Translat.", T, T),
    _block("64:ff9b:1::/48", "IPv4-IPv6 Translat.", T, F),
    _block("100::/64", "Discard-Only Address Block", T, F),
    _block("100:0:0:1::/64", "Dummy IPv6 Prefix", F, F),
    _block("2001::/23", "IETF Protocol Assignments", F, F),
    _block("2001::/32", "TEREDO", T, NA),
    _block("2001:1::1/128", "Port Control Protocol Anycast", T, T),
    _block("2001:1::2/128", "Traversal Using Relays around NAT Anycast", T, T),
    _block("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", T, T),
    _block("2001:2::/48", "Benchmarking", T, F),
    _block("2001:3::/32", "AMT", T, T),
    _block("2001:4:112::/48", "AS112-v6", T, T),
    _block("2001:10::/28", "Deprecated (previously ORCHID)", NA, NA),
    _block("2001:20::/28", "ORCHIDv2", T, T),
    _block("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", T, T),
    _block("2001:db8::/32", "Documentation", F, F),
    _block("2002::/16", "6to4", T, NA),
    _block("2620:4f:8000::/48", "Direct Delegation AS112 Service", T, T),
    _block("3fff::/20", "Documentation", F, F),
    _block("5f00::/16", "Segment Routing (SRv6) SIDs", T, F),
    _block("fc00::/7", "Unique-Local", T, F),
    _block("fe80::/10", "Link-Local Unicast", F, F, reserved=T),
)
# "IPv4 Multicast Address Space Registry" and "IPv6 Multicast Address Space Registry": never a webhook target.
MULTICAST = (_block("224.0.0.0/4", "Multicast", NA, NA), _block("ff00::/8", "Multicast", NA, NA))
# "Internet Protocol Version 6 Address Space": outside these, IPv6 is "Reserved by IETF" (IPv4-compatible
# ::a.b.c.d included); 2000::/3 is the Global Unicast space.
IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
IPV6_RESERVED_BY_IETF = _block("::/0", "Reserved by IETF", NA, NA)
LINK_LOCAL_BLOCKS = ("Link Local", "Link-Local Unicast")
LOOPBACK_BLOCKS = ("Loopback", "Loopback Address")
# Mapped, 6to4, Teredo and NAT64 addresses carry the IPv4 address the packet ends at: that one is classed.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Blocks a refusal does not name: its reason already says what they are.
SAID_BY_THE_REASON = (*LINK_LOCAL_BLOCKS, *LOOPBACK_BLOCKS, "Private-Use")


def special_block(address: Address) -> Block | None:
    """The registry block an address falls in (the most specific), or None for ordinary global space."""
    holding = [
        b
        for b in (*SPECIAL_PURPOSE, *MULTICAST)
        if b.network.version == address.version and address in b.network
    ]
    found = max(holding, key=lambda b: b.network.prefixlen, default=None)
    if found is None and isinstance(address, ipaddress.IPv6Address) and address not in IPV6_GLOBAL_UNICAST:
        return IPV6_RESERVED_BY_IETF
    return found


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to the same host: mapped, 6to4, Teredo's client, or NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@lru_cache(maxsize=4096)
def classify(address: Address) -> tuple[str | None, Block | None]:
    """What an address is to a caller, and the block that says so: None for a globally reachable address,
    PRIVATE for one allowed only by setting, LINK_LOCAL or NOT_UNICAST for one never called."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(int(address))  # without a scope id (fe80::1%eth0)
        address = embedded_ipv4(address) or address
    if address in METADATA_ADDRESSES:
        return LINK_LOCAL, None
    block = special_block(address)
    if block is not None and block.name in LINK_LOCAL_BLOCKS:
        return LINK_LOCAL, block
    if block is None or block.globally_reachable is True:
        return None, block
    if block.name in LOOPBACK_BLOCKS:
        return PRIVATE, block
    if block.forwardable is not True or block.reserved_by_protocol or block in MULTICAST:
        return NOT_UNICAST, block
    return PRIVATE, block


def is_globally_reachable(address: Address) -> bool:
    """An address the registries call globally reachable (or do not list): no loopback, private or other
    special-purpose range, and no metadata service."""
    return classify(address)[0] is None


def check_address(address: Address, *, allow_private: bool) -> None:
    reason, block = classify(address)
    if reason is None or (reason == PRIVATE and allow_private):
        return
    if block is None or block.name in SAID_BY_THE_REASON:
        raise UnsafeTarget(reason)
    raise UnsafeTarget(f"{reason} ({block.network}: {block.name})")


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
        raise UnsafeTarget(LINK_LOCAL)
    if (name == "localhost" or name.endswith(".localhost")) and not allow_private:
        raise UnsafeTarget(PRIVATE)
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
