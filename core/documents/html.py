"""HTML to what a model reads: the main content as markdown (or text, or HTML) with its metadata.

Main-content extraction is trafilatura's; when it finds too little, the whole page is converted
instead, and a page that is only a sign-in form or has no text at all gets a note saying so.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Literal

import markdownify
import trafilatura
from lxml import html as lxml_html
from trafilatura.metadata import extract_metadata
from trafilatura.utils import load_html

__all__ = ["Converted", "Format", "convert_html"]

Format = Literal["markdown", "text", "html"]
_OUTPUT = {"markdown": "markdown", "text": "txt", "html": "html"}
_PASSWORD = re.compile(r"<input[^>]+type\s*=\s*[\"']?password", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_NOISE = ("script", "style", "noscript", "template", "svg", "nav", "footer", "form", "iframe")
# Conversion is CPU work that holds the GIL: more pages at once than there are cores converts no
# more a second and only holds more parse trees (under load, sixteen at once held about 60 MB more
# than two). Callers convert in worker threads; the rest wait here with just their text.
_CONVERTING = threading.BoundedSemaphore(len(os.sched_getaffinity(0)))


@dataclass(frozen=True)
class Converted:
    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None
    canonical_url: str | None = None
    note: str | None = None


def convert_html(html: str, *, url: str | None = None, fmt: Format = "markdown", min_chars: int = 200) -> Converted:
    """The page's main content in `fmt`, with title, byline, date and canonical URL."""
    with _CONVERTING:
        return _convert(html, url=url, fmt=fmt, min_chars=min_chars)


def _convert(html: str, *, url: str | None, fmt: Format, min_chars: int) -> Converted:
    tree = load_html(html)
    if tree is None:
        return Converted("", note="The page could not be parsed as HTML.")
    meta = extract_metadata(tree, default_url=url)
    main = trafilatura.extract(
        tree,
        url=url,
        output_format=_OUTPUT[fmt],
        include_links=fmt != "text",
        include_tables=True,
        include_formatting=fmt == "markdown",
        include_comments=False,  # readers' comments are not the page's content (trafilatura keeps them by default)
    )
    text = (main or "").strip()
    if len(text) < min_chars:
        whole = _whole_page(html, fmt)
        if len(whole) > len(text):
            text = whole
    return Converted(
        text=text,
        title=meta.title if meta else None,
        author=meta.author if meta else None,
        date=meta.date if meta else None,
        canonical_url=meta.url if meta else None,
        note=_note(html, text, min_chars),
    )


def _whole_page(html: str, fmt: Format) -> str:
    """The visible text of the whole page, for pages main-content extraction misjudges."""
    try:
        # lxml refuses str input that carries an XML encoding declaration; the text is decoded already.
        root = lxml_html.document_fromstring(_XML_DECLARATION.sub("", html, count=1))
    except (ValueError, lxml_html.etree.ParserError):
        return ""
    for element in root.xpath("|".join(f"//{tag}" for tag in _NOISE)):
        element.drop_tree()
    body = root.find("body")
    target = body if body is not None else root
    if fmt == "text":
        return " ".join(target.text_content().split())
    markup = str(lxml_html.tostring(target, encoding="unicode"))
    if fmt == "html":
        return markup
    markdown = str(markdownify.markdownify(markup, heading_style=markdownify.ATX))
    return re.sub(r"\n{3,}", "\n\n", markdown).strip()


def _note(html: str, text: str, min_chars: int) -> str | None:
    if not text:
        return "The page has no readable text; it may need JavaScript to render, or be empty."
    if len(text) < min_chars * 2 and _PASSWORD.search(html):
        return "The page looks like a sign-in wall: it shows a login form and little else."
    return None
