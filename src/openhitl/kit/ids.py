"""24-hex, time-ordered identifiers in the shape of MongoDB ObjectIds, as HITL.sh uses."""

import itertools
import os
import re
import threading
import time

ID_PATTERN = r"^[0-9a-fA-F]{24}$"
_ID_RE = re.compile(ID_PATTERN)
_process_random = os.urandom(5)
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_lock = threading.Lock()


def new_id() -> str:
    """4 bytes of Unix seconds, 5 bytes fixed per process, 3 bytes of a counter."""
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _process_random + count.to_bytes(3, "big")).hex()


def is_valid_id(value: str) -> bool:
    return _ID_RE.fullmatch(value) is not None  # not .match: `$` would let a trailing newline through
