"""Blocking keys as text and pair scores one by one: what lets an index of keys find the pairs a
batch would compare, and score them the same, whichever records come together."""

from __future__ import annotations

import random

import pytest

from haina.customers.matching import blocking_keys, chinese_customer_settings, score_pairs
from haina.customers.matching.blocking import candidate_pairs, pairs_sharing_text
from haina.customers.matching.linker import prepare
from tests.customers.matching.synthetic import generate


@pytest.fixture(scope="module")
def records() -> list[dict[str, str]]:
    data = generate(300, seed=11)
    extra = [
        # A full phone cut 3 + 4 must meet its mask even where most masks are Taobao's 0 + 4.
        {"record_id": "full-1", "source": "pos", "name": "陈晓明", "phone": "13812345678"},
        {"record_id": "tail-1", "source": "taobao", "name": "陈**", "phone": "*******5678"},
        {"record_id": "tail-2", "source": "taobao", "name": "李**", "phone": "*******1111"},
        {"record_id": "mask-1", "source": "jd", "name": "陈*", "phone": "138****5678"},
        # An address naming its city without 市, readable with the help of other records only.
        {"record_id": "city-1", "source": "youzan", "name": "王芳", "address": "潮州湘桥区枫春路10号"},
        {
            "record_id": "city-2",
            "source": "youzan",
            "name": "王芳",
            "city": "潮州市",
            "address": "湘桥区枫春路10号",
        },
    ]
    return [*data.records, *extra]


TAILS = [{"record_id": f"tail-{n}", "source": "taobao", "phone": f"*******{n:04d}"} for n in range(5)]


def test_key_texts_give_the_pairs_link_compares(records: list[dict[str, str]]) -> None:
    settings = chinese_customer_settings(max_block_size=40)
    prepared = prepare(records, settings)
    expected = candidate_pairs(prepared.features, prepared.sources, settings)
    left, right = pairs_sharing_text(blocking_keys(records, settings), settings.max_block_size)
    assert len(expected.left) > len(records) / 2
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == list(
        zip(expected.left.tolist(), expected.right.tolist(), strict=True)
    )


def test_record_local_keys_do_not_depend_on_the_company(records: list[dict[str, str]]) -> None:
    local = chinese_customer_settings(record_local=True)
    together = blocking_keys(records, local)
    alone = [blocking_keys([record], local)[0] for record in records]
    assert together == alone
    # Without them a full phone is cut the way most masks of the run show (here Taobao's 0 + 4),
    # and a city is read from the cities other records spell out.
    shared = chinese_customer_settings()
    full, city = records[-6], records[-2]
    assert blocking_keys([full, *TAILS], shared)[0] != blocking_keys([full], shared)[0]
    assert blocking_keys([city, records[-1]], shared)[0] != blocking_keys([city], shared)[0]
    assert blocking_keys([full, *TAILS], local)[0] == blocking_keys([full], local)[0]
    assert blocking_keys([city, records[-1]], local)[0] == blocking_keys([city], local)[0]


def test_a_pair_scores_the_same_in_any_batch(records: list[dict[str, str]]) -> None:
    local = chinese_customer_settings(record_local=True)
    left, right = pairs_sharing_text(blocking_keys(records, local), local.max_block_size)
    in_batch = {
        (pair.left_id, pair.right_id): pair for pair in score_pairs(records, left, right, settings=local)
    }
    assert any(pair.decision == "merge" for pair in in_batch.values())
    assert any(pair.decision == "review" for pair in in_batch.values())
    sample = random.Random(5).sample(list(zip(left.tolist(), right.tolist(), strict=True)), 300)
    for a, b in sample:
        alone = score_pairs([records[a], records[b]], [0], [1], settings=local)
        key = (records[a]["record_id"], records[b]["record_id"])
        if key in in_batch:
            assert [(pair.weight, pair.decision, pair.evidence) for pair in alone] == [
                (in_batch[key].weight, in_batch[key].decision, in_batch[key].evidence)
            ]
        else:
            assert alone == []
