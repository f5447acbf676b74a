"""Reading QR codes back, to prove a generated code carries what it should."""

import base64
import io

import zxingcpp
from PIL import Image


def decode_png(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, f"expected one QR code, found {len(results)}"
    return str(results[0].text)


def decode_data_url(data_url: str) -> str:
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix), data_url[:40]
    return decode_png(base64.b64decode(data_url[len(prefix) :]))
