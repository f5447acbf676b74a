"""Slow clients on raw sockets: connections that send a little and stall, and reading what the server says
before it closes them."""

import socket

GENEROUS = 60.0  # seconds a test waits for a server to close a connection before calling it held


def connect(port: int, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=GENEROUS)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """All the server sends until it closes (or resets) the connection; fails if it is still open after
    GENEROUS s."""
    received = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server still holds a slow connection after {GENEROUS:g} s") from None
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return bytes(received)
