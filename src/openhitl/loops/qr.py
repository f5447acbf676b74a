"""QR codes for join links, as PNG bytes and as data URLs (segno, ~1.4 MiB, loads with the first one)."""

import base64
import io
from functools import lru_cache


@lru_cache(maxsize=256)
def qr_png(content: str, scale: int = 8) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make_qr(content, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_data_url(content: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(content)).decode()
