"""Chinese text for the archive index: one normalisation (full-width → half-width, traditional →
simplified, lower case; one character in, one character out, so match positions in the normal
form are positions in the original text), jieba segmentation, the tenant's word list, and keyed
token hashes, so the index stores no readable words beside the encrypted messages.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Tokens that are only punctuation, symbols or spaces are not words.
_WORD = re.compile(r"[0-9A-Za-z\u3400-\u9fff\uf900-\ufaff]")
_QUERY_PART = re.compile(r'"([^"]*)"|“([^”]*)”|(\S+)')
# E-commerce service words jieba's general dictionary lacks or splits badly (售后退货单 would
# come out 售/后退/货单); the same for every tenant. Tenant words (product names) come on top.
DOMAIN_WORDS = (
    "售后", "退货单", "退款单", "换货", "补发", "差评", "好评", "中评", "追评", "包邮", "运费险",
    "满减", "优惠券", "直播间", "拼团", "秒杀", "预售", "定金", "尾款", "发货", "催发货", "物流",
    "快递单号", "破损", "漏发", "错发", "赠品", "会员", "积分", "客服", "导购", "企业微信",
)  # fmt: skip
_jieba_lock = threading.Lock()
_tokenizer: Any = None


@lru_cache(maxsize=1)
def _table() -> dict[int, str]:
    from zhconv.zhconv import getdict

    table = {
        ord(source): target
        for source, target in getdict("zh-hans").items()
        if len(source) == 1 and len(target) == 1
    }
    for code in range(0xFF01, 0xFF5F):  # full-width ASCII → ASCII
        table[code] = chr(code - 0xFEE0)
    table[0x3000] = " "  # ideographic space
    for code in range(ord("A"), ord("Z") + 1):
        table[code] = chr(code + 32)
    for code in range(0xFF21, 0xFF3B):  # full-width capitals straight to lower case
        table[code] = chr(code - 0xFEE0 + 32)
    return table


def normalise(text: str) -> str:
    """The searchable form of `text`, the same length as `text`: 退款 and 退款, ＡＢＣ and abc match."""
    return text.translate(_table())


def tokenizer() -> Any:
    """The process's jieba tokenizer, loaded once (about a second) and shared: it is read-only
    after loading; tenant words are matched beside it, never added to it."""
    global _tokenizer
    if _tokenizer is None:
        with _jieba_lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                loaded = jieba.Tokenizer()
                loaded.initialize()
                for word in DOMAIN_WORDS:
                    loaded.add_word(word)
                _tokenizer = loaded
    return _tokenizer


def is_word(token: str) -> bool:
    return bool(_WORD.search(token))


def tenant_words_in(normal: str, words: Iterable[str]) -> list[str]:
    return [word for word in words if word and word in normal]


def index_words(text: str, tenant_words: Iterable[str] = ()) -> set[str]:
    """Every word a message can be found by: jieba's search-mode words (a long word and the
    dictionary words inside it) and the tenant's words that occur in it."""
    normal = normalise(text)
    words = {token.strip() for token in tokenizer().cut_for_search(normal) if is_word(token)}
    words.update(tenant_words_in(normal, tenant_words))
    words.discard("")
    return words


def _split_on_tenant_words(normal: str, words: list[str]) -> list[tuple[str, bool]]:
    """`normal` cut into (piece, is_tenant_word), longest tenant word first, left to right."""
    pieces: list[tuple[str, bool]] = []
    ordered = sorted((word for word in words if word), key=len, reverse=True)
    start = position = 0
    while position < len(normal):
        match = next((word for word in ordered if normal.startswith(word, position)), None)
        if match is None:
            position += 1
            continue
        if start < position:
            pieces.append((normal[start:position], False))
        pieces.append((match, True))
        position += len(match)
        start = position
    if start < len(normal):
        pieces.append((normal[start:], False))
    return pieces


def query_words(term: str, tenant_words: Iterable[str] = ()) -> list[str]:
    """The words one query term must all have: a tenant word whole (jieba's own split of a product
    name depends on its neighbours), jieba's precise-mode words for the rest."""
    normal = normalise(term)
    found = tenant_words_in(normal, tenant_words)
    words: list[str] = []
    for piece, is_tenant in _split_on_tenant_words(normal, found):
        if is_tenant:
            words.append(piece)
        else:
            words.extend(token.strip() for token in tokenizer().lcut(piece) if is_word(token))
    return list(dict.fromkeys(word for word in words if word))


@dataclass(frozen=True, slots=True)
class QueryTerm:
    text: str  # normalised, spaces removed for phrases
    words: tuple[str, ...]
    is_phrase: bool


def parse_query(query: str, tenant_words: Iterable[str] = ()) -> list[QueryTerm]:
    """`退款 "没有收到货"`: each bare term's words must all occur; a quoted phrase must also occur
    as written (checked on the decrypted text)."""
    words_list = list(tenant_words)
    terms = []
    for quoted, curly, bare in _QUERY_PART.findall(query):
        raw = quoted or curly or bare
        is_phrase = bool(quoted or curly)
        normal = normalise(raw).strip()
        if not normal:
            continue
        words = query_words(normal, words_list)
        if not words:
            continue
        terms.append(QueryTerm("".join(normal.split()) if is_phrase else normal, tuple(words), is_phrase))
    return terms


def token_key(hash_key: str, tenant_id: str, word: str) -> int:
    """A word's 64-bit keyed hash, per tenant: the index column (signed, fits BIGINT)."""
    digest = hmac.new(hash_key.encode(), f"{tenant_id}\x00{word}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def highlight_spans(text: str, needles: Iterable[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) spans of `needles` in `text`, compared in normal form."""
    normal = normalise(text)
    spans: list[tuple[int, int]] = []
    for needle in sorted({normalise(n) for n in needles if n}, key=len, reverse=True):
        start = normal.find(needle)
        while start >= 0:
            end = start + len(needle)
            if all(end <= s or start >= e for s, e in spans):
                spans.append((start, end))
            start = normal.find(needle, end)
    return sorted(spans)


def snippet(text: str, spans: list[tuple[int, int]], width: int = 60) -> list[tuple[str, bool]]:
    """A window of `text` around the first span as (piece, is_highlight) parts."""
    if not spans:
        return [(text[:width], False)] if text else []
    first = spans[0][0]
    begin = max(0, first - width // 3)
    end = min(len(text), begin + width)
    parts: list[tuple[str, bool]] = []
    position = begin
    if begin > 0:
        parts.append(("…", False))
    for start, stop in spans:
        if stop <= begin or start >= end:
            continue
        start, stop = max(start, begin), min(stop, end)
        if position < start:
            parts.append((text[position:start], False))
        parts.append((text[start:stop], True))
        position = stop
    if position < end:
        parts.append((text[position:end], False))
    if end < len(text):
        parts.append(("…", False))
    return parts


PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
