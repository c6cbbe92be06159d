"""The shared readers: URL-decoding as urllib does it, and Shanghai times in either form."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.platforms.reading import RecordError, shanghai_time, url_decoded

# Texts made of what URL-encoded JSON holds, plus broken escapes and raw non-ASCII.
pieces = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        ["%", "%2", "%G1", "+", "%2B", "%25", "%E4%B8%AD", "%E4%B8", "%AD", "%ff", "%Ff", "%3D", "="]
    ),
    st.sampled_from([" ", "\t", "\r\n", "\n", "% ", "%\t", "%0A", "%0D%0A", "_", "?"]),
    st.binary(max_size=6).map(lambda raw: "".join(f"%{byte:02X}" for byte in raw)),
    st.text(max_size=6).map(lambda value: urllib.parse.quote_plus(value)),
)


@settings(max_examples=1500)
@given(st.lists(pieces, max_size=12).map("".join))
def test_url_decoded_is_unquote_plus(value: str) -> None:
    assert url_decoded(value) == urllib.parse.unquote_plus(value)


def test_url_decoded_json_message() -> None:
    message = '{"tid":"E2024","buyer":"张三 (VIP)","pay":"199.00"}'
    assert url_decoded(urllib.parse.quote_plus(message)) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-07 09:00:00", datetime(2024, 5, 7, 1, 0, tzinfo=UTC)),
        ("2024-5-7 9:00:00", datetime(2024, 5, 7, 1, 0, tzinfo=UTC)),  # single digits, as before
        ("2024-01-01 00:30:00", datetime(2023, 12, 31, 16, 30, tzinfo=UTC)),
        ("", None),
    ],
)
def test_shanghai_time(text: str, expected: datetime | None) -> None:
    assert shanghai_time({"t": text}, "t") == expected


@pytest.mark.parametrize("text", ["2024-05-07T09:00:00", "2024-13-01 00:00:00", "2024-05-07 09:00", "昨天"])
def test_shanghai_time_refuses_other_forms(text: str) -> None:
    with pytest.raises(RecordError, match="yyyy-MM-dd HH:mm:ss"):
        shanghai_time({"t": text}, "t")
