"""Question detection and clustering on real Chinese customer questions (pure, no database)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from haina.archive.insights import questions
from haina.archive.insights.questions import Question

START = datetime(2026, 11, 1, tzinfo=UTC)

ASKED = [
    ("wmA", "什么时候发货"),
    ("wmB", "几天能发货呀"),
    ("wmC", "请问多久发货？"),
    ("wmA", "亲，什么时候发货呢"),
    ("wmD", "可以开发票吗"),
    ("wmE", "能开发票吗"),
    ("wmF", "你好，这个能开发票吗？"),
    ("wmB", "有没有黑色的"),
    ("wmC", "有黑色吗"),
    ("wmG", "好的谢谢"),  # not a question
    ("wmG", "亲，在吗"),  # a greeting, not a question
    ("wmH", "收到了，很好用"),  # not a question
]


def _messages(pairs: list[tuple[str, str]]) -> list[Question]:
    return [
        Question(number, f"conv-{customer}", customer, text, START + timedelta(minutes=number))
        for number, (customer, text) in enumerate(pairs, start=1)
    ]


def _groups(clusters: list[questions.Cluster]) -> list[set[str]]:
    return [{example.text for example in cluster.examples} for cluster in clusters]


def test_questions_are_recognised_and_greetings_stripped() -> None:
    assert questions.is_question("什么时候发货")
    assert questions.is_question("这个多少钱")
    assert questions.is_question("可以开发票吗")
    assert questions.is_question("发错货了怎么办")
    assert questions.is_question("是正品?")
    assert not questions.is_question("在吗")
    assert not questions.is_question("亲")
    assert not questions.is_question("好的谢谢")
    assert not questions.is_question("收到了")
    assert questions.clauses("亲，你好！请问多久发货？谢谢") == ["亲", "你好", "请问多久发货?", "谢谢"]
    assert questions.question_form("请问多久发货?") == "多久发货"
    assert questions.question_form("亲亲在吗能开发票吗") == "能开发票"


def test_shipping_and_invoice_questions_cluster_apart() -> None:
    clusters = questions.cluster_questions(_messages(ASKED), examples=5)
    groups = [cluster for cluster in clusters if cluster.count > 1]
    shipping = next(c for c in groups if any("发货" in e.text for e in c.examples))
    invoice = next(c for c in groups if any("发票" in e.text for e in c.examples))
    assert shipping is not invoice
    assert {e.text for e in shipping.examples} == {
        "什么时候发货",
        "几天能发货呀",
        "请问多久发货？",
        "亲，什么时候发货呢",
    }
    assert (shipping.count, shipping.customers) == (4, 3)
    assert shipping.representative == "什么时候发货"  # the most frequent form
    assert {e.text for e in invoice.examples} == {"可以开发票吗", "能开发票吗", "你好，这个能开发票吗？"}
    assert (invoice.count, invoice.customers) == (3, 3)
    assert invoice.representative == "能开发票"
    colour = next(c for c in groups if any("黑色" in e.text for e in c.examples))
    assert colour.count == 2
    every = {e.text for c in clusters for e in c.examples}
    assert not every & {"好的谢谢", "亲，在吗", "收到了，很好用"}
    assert [c.count for c in clusters] == sorted((c.count for c in clusters), reverse=True)


def test_examples_are_the_newest_three_with_their_conversations() -> None:
    pairs = [(f"wm{number}", "什么时候发货") for number in range(6)]
    (cluster,) = questions.cluster_questions(_messages(pairs))
    assert (cluster.count, cluster.customers, cluster.forms) == (6, 6, 1)
    assert [e.message_id for e in cluster.examples] == [6, 5, 4]
    assert [e.conversation_id for e in cluster.examples] == ["conv-wm5", "conv-wm4", "conv-wm3"]


def test_clustering_is_deterministic_whatever_the_order() -> None:
    products = ["小棕瓶", "面霜", "口红", "防晒霜", "洗面奶"]
    templates = [
        "{}什么时候发货",
        "{}有没有赠品",
        "{}多少钱",
        "{}能便宜点吗",
        "{}怎么用",
        "{}是正品吗",
        "{}可以退吗",
    ]
    rng = random.Random(7)
    pairs = [
        (f"wm{rng.randrange(50)}", rng.choice(templates).format(rng.choice(products))) for _ in range(400)
    ]
    messages = _messages(pairs)
    first = questions.cluster_questions(messages)
    shuffled = list(messages)
    random.Random(1).shuffle(shuffled)
    second = questions.cluster_questions(shuffled)
    assert [(c.representative, c.count, c.customers, c.forms) for c in first] == [
        (c.representative, c.count, c.customers, c.forms) for c in second
    ]
    assert [[e.message_id for e in c.examples] for c in first] == [
        [e.message_id for e in c.examples] for c in second
    ]
    assert sum(c.count for c in first) == len(messages)  # every one is a question, each in one cluster


def test_prefix_filter_finds_every_leader_within_the_threshold() -> None:
    # Brute force over small random sets: the leader each set joins has Jaccard ≥ threshold
    # and a set that leads has no earlier leader it could have joined.
    rng = random.Random(3)
    words = [f"w{number}" for number in range(12)]
    sets = sorted({frozenset(rng.sample(words, rng.randint(1, 5))) for _ in range(300)}, key=sorted)
    weighted = [(s, rng.randint(1, 9)) for s in sets]
    leaders = questions.cluster_sets(weighted, 0.5)
    chosen = {leader for leader in leaders}
    for index, leader in enumerate(leaders):
        mine = weighted[index][0]
        if leader != index:
            other = weighted[leader][0]
            assert len(mine & other) / len(mine | other) >= 0.5
        else:
            for candidate in chosen - {index}:
                other = weighted[candidate][0]
                earlier = (-weighted[candidate][1], len(other), sorted(other)) < (
                    -weighted[index][1],
                    len(mine),
                    sorted(mine),
                )
                if earlier:
                    assert len(mine & other) / len(mine | other) < 0.5 or not (mine & other)
