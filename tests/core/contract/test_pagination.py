import pytest

from toolpark import ToolError, paginate

TEXT = "".join(f"line {n}\n" for n in range(1000))


def test_pages_reassemble_the_text_exactly() -> None:
    pieces, start = [], 0
    while True:
        page = paginate(TEXT, start_index=start, max_length=777)
        pieces.append(page.text)
        assert page.total_length == len(TEXT)
        if page.next_index is None:
            break
        assert page.next_index == start + 777
        start = page.next_index
    assert "".join(pieces) == TEXT


def test_last_page_has_no_next_index() -> None:
    page = paginate("short", max_length=100)
    assert page.text == "short" and page.next_index is None


def test_empty_text_is_one_empty_page() -> None:
    assert paginate("", max_length=10).next_index is None


@pytest.mark.parametrize(
    ("start", "length", "message"),
    [(-1, 10, "negative"), (5000000, 10, "past the end"), (0, 0, "at least 1")],
)
def test_bad_cursor_is_a_tool_error(start: int, length: int, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        paginate(TEXT, start_index=start, max_length=length)
