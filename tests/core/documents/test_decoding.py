"""Bytes to text (`toolpark.documents.decoding`): declared charsets win over a few bad bytes."""

from __future__ import annotations

from toolpark.documents.decoding import decode

GERMAN = "Grüße aus Köln: Die Straßenbahn fährt über die Brücke, schön und gemütlich. " * 20


def test_a_declared_utf8_page_with_a_few_bad_bytes_keeps_every_other_character() -> None:
    """Regression: such a page went to charset guessing, which garbled all of it."""
    body = GERMAN.encode() + b"\xff\xfe stray \xc3 bytes " + GERMAN.encode()
    for content_type, data in [
        ("text/html; charset=utf-8", body),
        ("text/html", b'<html><head><meta charset="utf-8"></head><body>' + body),
    ]:
        text = decode(data, content_type)
        assert text.count(GERMAN) == 2 and text.count("\ufffd") == 3


def test_a_latin1_file_labelled_utf8_is_detected_as_latin1() -> None:
    text = decode(GERMAN.encode("iso-8859-1"), "text/plain; charset=utf-8")
    assert text == GERMAN


def test_undeclared_utf8_and_a_bom() -> None:
    assert decode(GERMAN.encode()) == GERMAN
    assert decode(b"\xef\xbb\xbf" + GERMAN.encode()) == GERMAN
