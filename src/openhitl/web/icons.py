"""Icons: the app's own and loops' named icons, drawn inline from the vendored Lucide set; emoji stay text.

A loop's icon is free text: an emoji (💰) or a named icon. The names HITL.sh documents come from other icon
sets (`shield-alt`, `document-text`, `beaker`); each maps to the Lucide icon that draws the same thing.
"""

import re
from functools import cache
from pathlib import Path

from markupsafe import Markup, escape

from openhitl.requests.response_configs import HEX_COLOR

LUCIDE_DIR = Path(__file__).parent / "static" / "vendor" / "lucide-1.87.0"
# The app's own icons, by the names its templates use.
APP_ICONS = {
    "bell": "bell",
    "plus": "plus",
    "home": "house",
    "history": "history",
    "settings": "settings",
    "grid": "layout-grid",
    "back": "arrow-left",
    "send": "send",
    "inbox": "inbox",
}
# The names HITL.sh lists for loop icons (and Handoff's default, circle), as Lucide names.
NAMED_ICONS = {
    "shield-check": "shield-check",
    "shield-alt": "shield",
    "shield-exclamation": "shield-alert",
    "lock": "lock",
    "key": "key",
    "document-text": "file-text",
    "document-check": "file-check",
    "file-text": "file-text",
    "clipboard": "clipboard",
    "edit": "pencil",
    "eye": "eye",
    "search": "search",
    "thumbs-up": "thumbs-up",
    "thumbs-down": "thumbs-down",
    "star": "star",
    "badge-check": "badge-check",
    "certificate": "file-badge",
    "award": "award",
    "beaker": "flask-conical",
    "cog": "cog",
    "chat": "message-circle",
    "comment": "message-square",
    "bell": "bell",
    "megaphone": "megaphone",
    "mail": "mail",
    "folder": "folder",
    "tag": "tag",
    "flag": "flag",
    "bookmark": "bookmark",
    "heart": "heart",
    "circle": "circle",
}
# A word that looks like an icon name but is none of the above is drawn as a plain circle, not as text.
_ICON_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_SVG_BODY = re.compile(r"<svg[^>]*>(.*)</svg>", re.DOTALL)


@cache
def _paths(lucide_name: str) -> str:
    """The drawing inside one vendored Lucide SVG (its <path>, <circle>, … elements)."""
    found = _SVG_BODY.search((LUCIDE_DIR / f"{lucide_name}.svg").read_text())
    if found is None:
        raise ValueError(f"{lucide_name}.svg is not an SVG")
    return " ".join(found.group(1).split())


def svg(lucide_name: str, css_class: str = "icon", size: int = 22) -> Markup:
    """A Lucide icon as inline SVG that takes the text's colour; decorative (its words are beside it)."""
    return Markup(
        f'<svg class="{escape(css_class)}" viewBox="0 0 24 24" width="{size}" height="{size}" '
        'aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" '
        f'stroke-linecap="round" stroke-linejoin="round" data-icon="{escape(lucide_name)}">'
        f"{_paths(lucide_name)}</svg>"
    )  # the drawing comes from our own vendored files, never from a request


def loop_icon(icon: str | None) -> Markup:
    """A loop's icon: a named one as SVG, anything else (an emoji) as the text it is."""
    name = (icon or "").strip()
    if not name:
        return Markup("")
    key = name.lower()
    if key in NAMED_ICONS:
        return svg(NAMED_ICONS[key], "icon loop-icon", 18)
    if _ICON_NAME.fullmatch(key):
        return svg("circle", "icon loop-icon", 18)
    return Markup('<span class="loop-emoji">{}</span>').format(name)


def app_icon(name: str) -> Markup:
    return svg(APP_ICONS[name])


def swatch(color: object) -> Markup:
    """A dot in a caller's colour (an option's `color`): SVG's fill, since the pages allow no inline style."""
    if not isinstance(color, str) or not HEX_COLOR.fullmatch(color):
        return Markup("")
    return Markup(
        '<svg class="swatch" viewBox="0 0 12 12" width="12" height="12" aria-hidden="true" focusable="false">'
        f'<circle cx="6" cy="6" r="6" fill="{color}"/></svg>'
    )  # the colour is a checked hex code
