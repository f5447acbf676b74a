"""Request text as safe HTML: Markdown without raw HTML, then an allow-list sanitiser as a second wall; and
the same text flattened to its words, for headlines, previews and emails."""

import html

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_TAGS = {
    "a", "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> Markup:
    """Markdown to HTML that can carry no script: raw HTML is shown as text, links are http(s) or mailto."""
    html = _parser.render(text)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)  # sanitised just above


def plain_text(text: str) -> str:
    """The words of a Markdown text without its markup, for previews (escaped again when shown)."""
    return " ".join(html.unescape(nh3.clean(_parser.render(text), tags=set())).split())
