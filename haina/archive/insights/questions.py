"""Frequent customer questions, pure: which clauses of a message are questions (a rule list),
their cleaned form (normalised, greetings stripped), their words (the archive's jieba
segmentation, question words mapped onto a few concepts so 什么时候/多久/几天 are one word), and a
deterministic clustering by word-set similarity.

Clustering: identical word sets are counted once; the distinct sets, most frequent first, join
the most similar cluster leader with Jaccard ≥ threshold that shares at least one content word
(not only a concept), else lead a new cluster. Leaders are found through an inverted index of
their prefix words (rarest words first, the All-Pairs prefix filter), so a set meets only the
leaders it can reach the threshold with: 100k messages take seconds.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from haina.archive import text as archive_text

# Clauses: split on sentence and clause punctuation (after normalisation: ？ → ?, ， → ,).
_CLAUSE = re.compile(r"[。.!！?？\n\r;；~～,，、…]+|\s{2,}")
_QUESTION_MARK = re.compile(r"[?？]")
# Question words and phrases; "可以…吗" and other yes/no questions end with 吗 (see ENDINGS).
QUESTION_WORDS = (
    "怎么", "怎样", "怎么样", "如何", "多久", "多长时间", "什么时候", "啥时候", "何时", "几时", "能不能",
    "可不可以", "可以不", "有没有", "有无", "是不是", "几天", "多少钱", "多少", "哪", "为什么", "为啥",
    "咋", "啥", "什么", "是否", "吗",
)  # fmt: skip
ENDINGS = ("吗", "呢", "么", "嘛", "不")
# Greetings and politeness that carry no question: stripped at either end of a clause.
GREETINGS = (
    "亲亲", "亲爱的", "亲", "你好", "您好", "哈喽", "hello", "hi", "在吗", "在么", "在不在", "在不",
    "老板", "客服", "掌柜", "小姐姐", "小哥哥", "美女", "请问一下", "请问", "麻烦问一下", "问一下",
    "想问一下", "想问下", "我想问一下", "打扰一下", "打扰了", "谢谢", "谢啦", "辛苦了", "哈哈", "哈",
    "嗯", "哦", "噢",
)  # fmt: skip
_TRAILING = "呀啊哈吖哦噢嘛呢吗么的了啦呐"
# Words that mean the same in a question: one concept token each.
CONCEPTS: dict[str, str] = {
    **dict.fromkeys(
        ("什么时候", "啥时候", "何时", "几时", "多久", "多长时间", "多长", "几天", "哪天", "多少天", "时候"),
        "<when>",
    ),
    **dict.fromkeys(
        ("能", "能不能", "可以", "可不可以", "可否", "能否", "可以不", "行不行", "行吗"), "<can>"
    ),
    **dict.fromkeys(("多少钱", "价格", "价钱", "几块", "多少"), "<price>"),
    **dict.fromkeys(("有没有", "有无", "有么", "有吗", "有"), "<have>"),
    **dict.fromkeys(
        ("怎么", "怎样", "怎么样", "如何", "咋", "咋样", "怎么弄", "怎么办", "咋办", "咋弄"), "<how>"
    ),
    **dict.fromkeys(("为什么", "为啥", "怎么回事"), "<why>"),
    **dict.fromkeys(("哪里", "哪儿", "在哪", "哪个", "哪些", "哪"), "<which>"),
    **dict.fromkeys(("开", "开具", "给开"), "开"),
}
STOPWORDS = frozenset(
    [
        "我",
        "你",
        "您",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "的",
        "了",
        "吗",
        "呢",
        "么",
        "嘛",
        "吧",
        "呀",
        "啊",
        "哈",
        "吖",
        "哦",
        "噢",
        "啦",
        "是",
        "不",
        "还",
        "就",
        "都",
        "也",
        "这",
        "那",
        "这个",
        "那个",
        "一下",
        "一个",
        "请问",
        "请",
        "麻烦",
        "问",
        "想",
        "要",
        "会",
        "在",
        "给",
        "下",
        "个",
        "把",
        "被",
        "又",
        "再",
        "很",
        "太",
        "好",
        "到",
        "和",
        "跟",
        "与",
        "及",
        "么",
        "啥",
        "什么",
        "是否",
        "是不是",
        "呐",
        "哟",
        "嗯",
        "亲",
        "能够",
        "我要",
        "想要",
        "弄",
        "办",
        "一点",
        "点",
    ]
)
MIN_CHARS, MAX_CHARS = 2, 60
THRESHOLD = 0.5


def clauses(text: str) -> list[str]:
    """The clauses of a message, normalised, a question mark kept on the clause it ends."""
    normal = archive_text.normalise(text)
    parts: list[str] = []
    position = 0
    for match in _CLAUSE.finditer(normal):
        piece = normal[position : match.start()].strip()
        if piece:
            parts.append(piece + ("?" if _QUESTION_MARK.search(match.group()) else ""))
        position = match.end()
    tail = normal[position:].strip()
    if tail:
        parts.append(tail)
    return parts


def strip_greetings(clause: str) -> str:
    """`clause` without greetings and politeness at its ends (亲，你好，请问…；…谢谢)."""
    text = clause.strip().rstrip("?").strip()
    ordered = sorted(GREETINGS, key=len, reverse=True)
    changed = True
    while changed and text:
        changed = False
        for greeting in ordered:
            if text.startswith(greeting):
                text, changed = text[len(greeting) :].strip(), True
                break
            if text.endswith(greeting) and len(text) > len(greeting):
                text, changed = text[: -len(greeting)].strip(), True
                break
    return text


def is_question(clause: str) -> bool:
    """A clause asks something: a question mark, a question ending (吗/呢/么…) or a question word."""
    body = strip_greetings(clause)
    if len(body) < MIN_CHARS or len(body) > MAX_CHARS or not archive_text.is_word(body):
        return False
    if "?" in clause or "？" in clause:
        return True
    trimmed = body.rstrip("呀啊哈吖哦噢啦")
    return trimmed.endswith(ENDINGS) or any(word in body for word in QUESTION_WORDS)


def question_form(clause: str) -> str:
    """The cleaned form of a question clause (greetings and trailing particles off)."""
    return strip_greetings(clause).rstrip(_TRAILING) or strip_greetings(clause)


def default_words(form: str) -> list[str]:
    return [token.strip() for token in archive_text.tokenizer().lcut(form) if archive_text.is_word(token)]


def word_set(form: str, cut: Callable[[str], list[str]] = default_words) -> frozenset[str]:
    """The words of a question form: concepts for question words, no stop words."""
    words = set()
    for token in cut(form):
        token = CONCEPTS.get(token, token)
        if token in STOPWORDS:
            continue
        words.add(token)
    return frozenset(words)


def is_concept(word: str) -> bool:
    return word.startswith("<")


@dataclass(frozen=True)
class Question:
    message_id: int
    conversation_id: str
    customer: str  # the sender (external userid)
    text: str  # the message's text
    sent_at: datetime


@dataclass(frozen=True)
class Example:
    message_id: int
    conversation_id: str
    text: str
    sent_at: datetime


@dataclass
class Cluster:
    representative: str
    count: int  # messages asking it
    customers: int  # distinct customers asking it
    forms: int  # distinct cleaned forms
    examples: list[Example] = field(default_factory=list)


def extract(questions: Iterable[Question]) -> list[tuple[Question, str]]:
    """(message, cleaned question form) for every question clause of the messages."""
    found = []
    for question in questions:
        for clause in clauses(question.text):
            if is_question(clause):
                found.append((question, question_form(clause)))
    return found


def _prefix_length(size: int, threshold: float) -> int:
    return size - math.ceil(threshold * size - 1e-9) + 1


def cluster_sets(weighted: Sequence[tuple[frozenset[str], int]], threshold: float = THRESHOLD) -> list[int]:
    """For each distinct word set (with its weight), the index of its cluster's leader set.
    Deterministic: sets are taken by weight (desc), then size, then their sorted words."""
    frequency: Counter[str] = Counter()
    for words, _ in weighted:
        frequency.update(words)
    rank = {word: (count, word) for word, count in frequency.items()}
    order = sorted(
        range(len(weighted)),
        key=lambda index: (-weighted[index][1], len(weighted[index][0]), sorted(weighted[index][0])),
    )
    leader_of = [-1] * len(weighted)
    index: dict[str, list[int]] = defaultdict(list)  # prefix word → leaders
    ordered_words: dict[int, list[str]] = {}
    for current in order:
        words = weighted[current][0]
        if not words:
            leader_of[current] = current
            continue
        ranked = sorted(words, key=rank.__getitem__)  # rarest first
        prefix = ranked[: _prefix_length(len(ranked), threshold)]
        best, best_score = -1, 0.0
        seen: set[int] = set()
        for word in prefix:
            for leader in index.get(word, ()):
                if leader in seen:
                    continue
                seen.add(leader)
                other = weighted[leader][0]
                if not (threshold * len(other) <= len(words) <= len(other) / threshold):
                    continue
                shared = words & other
                if not any(not is_concept(word) for word in shared):
                    continue
                score = len(shared) / len(words | other)
                if score >= threshold and (score > best_score or (score == best_score and leader < best)):
                    best, best_score = leader, score
        if best >= 0:
            leader_of[current] = best
            continue
        leader_of[current] = current
        ordered_words[current] = ranked
        for word in prefix:
            index[word].append(current)
    return leader_of


def _representative(forms: Counter[str], words_of: dict[str, frozenset[str]]) -> str:
    """The most frequent form; among equals the most central (closest to the cluster's other
    forms), then the one of fewer words, then the shorter, then the first in code-point order."""
    top = sorted(forms, key=lambda form: (-forms[form], form))[:50]

    def closeness(form: str) -> float:
        words = words_of[form]
        return sum(
            forms[other] * len(words & words_of[other]) / max(1, len(words | words_of[other]))
            for other in top
            if other != form
        )

    return min(
        top, key=lambda form: (-forms[form], -round(closeness(form), 9), len(words_of[form]), len(form), form)
    )


def cluster_questions(
    questions: Iterable[Question],
    *,
    threshold: float = THRESHOLD,
    limit: int = 20,
    examples: int = 3,
    cut: Callable[[str], list[str]] = default_words,
) -> list[Cluster]:
    """The `limit` largest clusters of the questions asked in these messages, largest first."""
    asked = extract(questions)
    words_of: dict[str, frozenset[str]] = {}
    for _, form in asked:
        if form not in words_of:
            words_of[form] = word_set(form, cut)
    weights: Counter[frozenset[str]] = Counter(words_of[form] for _, form in asked)
    weighted = sorted(weights.items(), key=lambda item: sorted(item[0]))
    position = {words: number for number, (words, _) in enumerate(weighted)}
    leaders = cluster_sets(weighted, threshold)
    members: dict[int, list[tuple[Question, str]]] = defaultdict(list)
    for question, form in asked:
        words = words_of[form]
        if not any(not is_concept(word) for word in words):
            continue  # only question words (多少钱?): nothing to group by
        members[leaders[position[words]]].append((question, form))
    clusters = []
    for entries in members.values():
        messages = {question.message_id for question, _ in entries}
        forms = Counter(form for _, form in entries)
        representative = _representative(forms, words_of)
        latest = sorted(entries, key=lambda entry: (entry[0].sent_at, entry[0].message_id), reverse=True)
        picked: list[Example] = []
        for question, _ in latest:
            if any(example.message_id == question.message_id for example in picked):
                continue
            picked.append(
                Example(question.message_id, question.conversation_id, question.text, question.sent_at)
            )
            if len(picked) >= examples:
                break
        clusters.append(
            Cluster(
                representative=representative,
                count=len(messages),
                customers=len({question.customer for question, _ in entries}),
                forms=len(forms),
                examples=picked,
            )
        )
    clusters.sort(key=lambda cluster: (-cluster.count, -cluster.customers, cluster.representative))
    return clusters[:limit]
