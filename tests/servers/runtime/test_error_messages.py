"""Error messages quote a short, cut prefix of what was sent or stored, never the whole of it.

A message quoting a 100 KB id once outgrew gRPC's metadata limit, and the caller saw
RESOURCE_EXHAUSTED instead of NOT_FOUND; `shorten` is what the interceptor cuts every status with.
"""

from __future__ import annotations

import pytest

from polytraders.servers.runtime.errors import QUOTE_LIMIT, shorten

LIMIT = 256
NAMES = ", ".join(f"operator-{i:08d}" for i in range(10_000))
DIMENSIONS = str([f"d{i}" for i in range(10_000)])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("no strategy 'alpha'", "no strategy 'alpha'", id="a short message stays whole"),
        pytest.param(
            f"no strategy {'s' * 100_000!r}",
            f"no strategy '{'s' * QUOTE_LIMIT}…' (100000 chars)",
            id="a 100 KB quoted id keeps a short prefix and its length",
        ),
        pytest.param(
            f"ops is not in alpha's authority ({NAMES})",
            f"ops is not in alpha's authority ({NAMES[:QUOTE_LIMIT]}…) ({len(NAMES)} chars)",
            id="a joined list in parentheses keeps a short prefix and its length",
        ),
        pytest.param(
            f"unknown dimensions {DIMENSIONS}",
            f"unknown dimensions {DIMENSIONS[: QUOTE_LIMIT + 1]}…] ({len(DIMENSIONS) - 2} chars)",
            id="a 10,000-element list keeps a short prefix and its length",
        ),
        pytest.param(
            f"token {'9' * 100_000} already resolved",
            f"token {'9' * QUOTE_LIMIT}… (100000 chars) already resolved",
            id="a long unquoted value keeps a short prefix and its length",
        ),
    ],
)
def test_a_long_message_quotes_a_short_cut_prefix_of_each_long_value(text: str, expected: str) -> None:
    assert shorten(text, LIMIT) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("'a', " * 100_000, id="many short values"),
        pytest.param("\\'" * 100_000, id="quotes and backslashes a caller chose"),
        pytest.param("(" * 100_000 + "x", id="unbalanced brackets"),
        pytest.param("\N{PILE OF POO} " * 100_000, id="four-byte characters"),
    ],
)
def test_what_is_still_too_long_is_cut_at_the_limit_with_its_length(text: str) -> None:
    shortened = shorten(text, LIMIT)
    assert len(shortened) <= LIMIT
    assert shortened.endswith(f"… ({len(text)} chars)")
