"""The resolver and the rules without a database: guard rails, review band, human decisions,
and the same clusters whatever order the links come in."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from haina.customers.identity import rules
from haina.customers.identity.models import LinkStatus
from haina.customers.identity.resolver import (
    GraphLink,
    GraphNode,
    Thresholds,
    assign_customers,
    decide,
)
from haina.customers.identity.rules import Kind

T = "tenant"


def node(name: str, kind: str, scope: str = "", customer: str | None = None) -> GraphNode:
    return GraphNode(id=name, kind=kind, scope=scope, customer_id=customer)


def link(
    a: str, b: str, rule: str = "order_receiver_phone", score: float | None = None, **extra: object
) -> GraphLink:
    chosen = rules.RULES[rule].score if score is None else score
    return GraphLink(
        id=f"{a}-{b}-{rule}", node_a=min(a, b), node_b=max(a, b), rule=rule, score=chosen, **extra
    )  # type: ignore[arg-type]


def clusters_of(
    nodes: dict[str, GraphNode], links: list[GraphLink], thresholds: Thresholds | None = None
) -> set[frozenset[str]]:
    outcome = decide(nodes, links, thresholds or Thresholds())
    return {frozenset(members) for members in outcome.clusters}


# --- values -----------------------------------------------------------------------------------


def test_masked_mobile_reads_full_and_middle_masked_numbers_only() -> None:
    assert rules.masked_mobile("13812345678") == "138****5678"
    assert rules.masked_mobile("+86 138 1234 5678") == "138****5678"
    assert rules.masked_mobile("138****5678") == "138****5678"
    assert rules.masked_mobile("*******5678") == ""  # Taobao's tail mask: 4 digits are too few
    assert rules.masked_mobile("") == ""


def test_name_initial_folds_traditional_and_masks() -> None:
    assert rules.name_initial("陳小明") == rules.name_initial("陈**") == "陈"
    assert rules.name_initial("Echo徐") == rules.name_initial("E****") == "e"
    assert rules.name_initial("**") == ""


def test_an_order_is_a_star_from_its_buyer_account() -> None:
    facts = rules.OrderFacts(
        order_id="o1",
        platform="youzan",
        shop_id="S1",
        receiver_name="陈晓",
        receiver_phone_hash="h1",
        receiver_phone_masked="138****5678",
        buyers=[
            rules.BuyerFact("b1", "youzan", "buyer_id", "YZ1", False, "S1"),
            rules.BuyerFact("b2", "youzan", "unionid", "UNION1", False),
            rules.BuyerFact("b3", "youzan", "phone", "h1", False, "S1", plaintext="13812345678"),
        ],
    )
    derived = rules.derive(T, [facts])
    kinds = {spec.kind for spec in derived.nodes.values()}
    assert kinds == {Kind.YOUZAN_BUYER, Kind.UNIONID, Kind.PHONE_HASH, Kind.PHONE_MASKED}
    anchor = derived.nodes[derived.order_anchor["o1"]]
    assert anchor.kind == Kind.YOUZAN_BUYER and anchor.scope == "youzan:S1" and anchor.label == "陈晓"
    by_rule = {spec.rule for spec in derived.links.values()}
    assert by_rule == {"same_account", "order_receiver_phone", "mask_of_phone"}
    masked = next(spec for spec in derived.nodes.values() if spec.kind == Kind.PHONE_MASKED)
    assert masked.value == "138****5678|陈"
    phone = next(spec for spec in derived.nodes.values() if spec.kind == Kind.PHONE_HASH)
    assert phone.plaintext == "13812345678" and phone.display == "138****5678"


def test_an_order_naming_only_a_masked_receiver_is_anchored_on_it() -> None:
    facts = rules.OrderFacts(
        order_id="o2",
        platform="pdd",
        shop_id="P1",
        receiver_name="陈*",
        receiver_phone_masked="138****5678",
        buyers=[rules.BuyerFact("b9", "pdd", "phone", "138****5678", True, "P1")],
    )
    derived = rules.derive(T, [facts])
    anchor = derived.nodes[derived.order_anchor["o2"]]
    assert (anchor.kind, anchor.value) == (Kind.PHONE_MASKED, "138****5678|陈")
    assert not derived.links


# --- guard rails ------------------------------------------------------------------------------


def test_a_shared_device_alone_never_merges() -> None:
    nodes = {
        "a": node("a", Kind.YOUZAN_BUYER, "youzan:S1"),
        "b": node("b", Kind.JD_BUYER, "jd:J1"),
        "d": node("d", Kind.DEVICE_ID),
    }
    links = [link("a", "d", "shared_device"), link("b", "d", "shared_device")]
    outcome = decide(nodes, links, Thresholds())
    assert {frozenset(c) for c in outcome.clusters} == {frozenset({"a"}), frozenset({"b"}), frozenset({"d"})}
    assert {decision.status for decision in outcome.decisions.values()} == {LinkStatus.WEAK.value}
    assignment = assign_customers(nodes, outcome.clusters, {}, anchors={"a", "b"})
    assert assignment.node_customer["d"] is None  # a device is nobody's customer


def test_an_over_linking_key_is_blocked_before_it_snowballs() -> None:
    nodes = {"locker": node("locker", Kind.PHONE_HASH)}
    links = []
    for index in range(12):
        name = f"buyer{index}"
        nodes[name] = node(name, Kind.JD_BUYER, f"jd:J{index}")  # different shops: no exclusivity
        links.append(link(name, "locker"))
    outcome = decide(nodes, links, Thresholds(max_accounts_per_key=8))
    assert "locker" in outcome.blocked and "over_linking_key" in outcome.blocked["locker"]
    assert all(len(members) == 1 for members in outcome.clusters)
    assert {decision.reason for decision in outcome.decisions.values()} == {"over_linking_key"}


def test_the_matcher_cannot_get_round_a_blocked_key() -> None:
    nodes = {"locker": node("locker", Kind.PHONE_HASH, customer=None)}
    nodes["locker"].is_blocked = True
    links = []
    for index in range(3):
        name = f"buyer{index}"
        nodes[name] = node(name, Kind.JD_BUYER, f"jd:J{index}")
        links.append(link(name, "locker"))
    # buyer0 and buyer1 both name the locker's phone; buyer1 and buyer2 as well, but buyer2's
    # order showed the phone to nobody else: its deterministic link is not there.
    links.pop()
    links.append(link("buyer0", "buyer1", "probabilistic", 0.99, is_proposed=True))
    links.append(link("buyer1", "buyer2", "probabilistic", 0.99, is_proposed=True))
    outcome = decide(nodes, links, Thresholds())
    refused = outcome.decisions["buyer0-buyer1-probabilistic"]
    assert (refused.status, refused.reason) == (LinkStatus.REFUSED.value, "over_linking_key")
    assert outcome.decisions["buyer1-buyer2-probabilistic"].status == LinkStatus.MERGED.value
    assert frozenset({"buyer1", "buyer2"}) in {frozenset(members) for members in outcome.clusters}


def test_one_external_userid_per_corp_and_one_buyer_id_per_shop() -> None:
    nodes = {
        "contact1": node("contact1", Kind.WECOM_EXTERNAL_USERID, "corp1"),
        "contact2": node("contact2", Kind.WECOM_EXTERNAL_USERID, "corp1"),
        "phone": node("phone", Kind.PHONE_HASH),
    }
    links = [
        link("contact1", "phone", "contact_remark_mobile"),
        link("contact2", "phone", "contact_remark_mobile"),
    ]
    outcome = decide(nodes, links, Thresholds())
    refused = [
        decision for decision in outcome.decisions.values() if decision.status == LinkStatus.REFUSED.value
    ]
    assert [decision.reason for decision in refused] == ["exclusive:wecom_external_userid"]
    # Two corps may each have one.
    nodes["contact2"] = node("contact2", Kind.WECOM_EXTERNAL_USERID, "corp2")
    assert frozenset({"contact1", "contact2", "phone"}) in clusters_of(nodes, links)


def test_per_kind_limits_and_the_cluster_cap() -> None:
    nodes = {"acct": node("acct", Kind.YOUZAN_BUYER, "youzan:S1")}
    links = []
    for index in range(5):
        nodes[f"p{index}"] = node(f"p{index}", Kind.PHONE_HASH)
        links.append(link("acct", f"p{index}"))
    outcome = decide(nodes, links, Thresholds())
    reasons = sorted(decision.reason for decision in outcome.decisions.values() if decision.reason)
    assert reasons == ["limit:phone_hash", "limit:phone_hash"]  # at most 3 phones per person
    capped = decide(nodes, links, Thresholds(max_cluster_nodes=2))
    assert sorted(d.reason for d in capped.decisions.values() if d.reason)[0] == "cluster_cap"


def test_the_review_band_and_the_threshold() -> None:
    nodes = {"a": node("a", Kind.YOUZAN_BUYER, "youzan:S1"), "b": node("b", Kind.DOUYIN_BUYER, "douyin:D1")}
    for score, status in ((0.95, LinkStatus.MERGED), (0.75, LinkStatus.REVIEW), (0.3, LinkStatus.REFUSED)):
        outcome = decide(nodes, [link("a", "b", "probabilistic", score)], Thresholds())
        assert next(iter(outcome.decisions.values())).status == status.value, score


def test_a_person_wins_over_the_guard_rails_and_cannot_link_keeps_apart() -> None:
    nodes = {
        "contact1": node("contact1", Kind.WECOM_EXTERNAL_USERID, "corp1"),
        "contact2": node("contact2", Kind.WECOM_EXTERNAL_USERID, "corp1"),
        "phone": node("phone", Kind.PHONE_HASH),
    }
    manual = link("contact1", "contact2", "manual", status=LinkStatus.MANUAL.value)
    assert frozenset({"contact1", "contact2"}) in clusters_of(nodes, [manual])
    apart = GraphLink("x", "contact1", "phone", "unmerge", 1.0, status=LinkStatus.CANNOT_LINK.value)
    joined = clusters_of(nodes, [apart, link("contact1", "phone", "contact_remark_mobile")])
    assert frozenset({"contact1"}) in joined and frozenset({"phone"}) in joined


def test_stronger_rules_decide_first() -> None:
    # A Douyin buyer received once at the spouse's masked phone; the spouse's own account
    # and her contact are tied by stronger rules first, so the weak link is the one refused.
    nodes = {
        "husband": node("husband", Kind.DOUYIN_BUYER, "douyin:D1"),
        "wife": node("wife", Kind.DOUYIN_BUYER, "douyin:D1"),
        "masked": node("masked", Kind.PHONE_MASKED),
    }
    links = [link("husband", "masked", "order_receiver_masked"), link("wife", "masked", "mask_of_phone")]
    assert frozenset({"wife", "masked"}) in clusters_of(nodes, links)


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_same_clusters_whatever_order_the_links_come_in(rng: random.Random) -> None:
    nodes = {f"acct{i}": node(f"acct{i}", Kind.JD_BUYER, f"jd:S{i % 3}") for i in range(9)}
    nodes |= {f"phone{i}": node(f"phone{i}", Kind.PHONE_HASH) for i in range(4)}
    nodes |= {f"contact{i}": node(f"contact{i}", Kind.WECOM_EXTERNAL_USERID, "corp1") for i in range(3)}
    base = random.Random(7)
    links = [
        link(
            base.choice(sorted(nodes)),
            base.choice(sorted(nodes)),
            base.choice(["order_receiver_phone", "same_account", "mask_of_phone"]),
        )
        for _ in range(25)
    ]
    links = [item for item in {item.id: item for item in links if item.node_a != item.node_b}.values()]
    expected = clusters_of(nodes, links)
    shuffled = list(links)
    rng.shuffle(shuffled)
    assert clusters_of(nodes, shuffled) == expected


def test_the_oldest_customer_of_a_cluster_survives() -> None:
    nodes = {
        "a": node("a", Kind.YOUZAN_BUYER, "youzan:S1", customer="young"),
        "b": node("b", Kind.PHONE_HASH, customer="old"),
        "c": node("c", Kind.JD_BUYER, "jd:J1"),
    }
    age = {
        "young": (datetime(2026, 5, 1, tzinfo=UTC), "young"),
        "old": (datetime(2026, 1, 1, tzinfo=UTC), "old"),
    }
    outcome = decide(nodes, [link("a", "b"), link("b", "c")], Thresholds())
    assignment = assign_customers(nodes, outcome.clusters, age, anchors={"a", "c"})
    assert assignment.merges == [("young", "old")]
    assert set(assignment.node_customer.values()) == {"old"}
