"""Browser-like helpers for the web pages: read the CSRF token a page's forms carry."""

import re

import httpx

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(http: httpx.Client, path: str) -> str:
    """Opens a page like a browser would (keeping its cookies) and returns its forms' CSRF token."""
    page = http.get(path)
    assert page.status_code == 200, page.text
    found = _TOKEN.search(page.text)
    assert found, f"no form with a CSRF token on {path}"
    return found.group(1)
