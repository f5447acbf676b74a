"""Host names that fail to resolve here, at once, as a name nobody registered fails: no DNS server is asked,
so a test that shows what an unknown host does never leaves loopback, whatever the machine's resolver knows."""

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch


@contextmanager
def unresolvable(*names: str) -> Iterator[None]:
    """While inside: looking up any of `names` raises the resolver's own "not known" error; every other name
    resolves as usual. Covers the test process's event loops (asyncio resolves with socket.getaddrinfo)."""
    real = socket.getaddrinfo

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    with patch.object(socket, "getaddrinfo", lookup):
        yield
