"""The WeCom emulator's contact book over HTTP in WeCom's wire format: user/get (docs 90196) and
user/simplelist (docs 90200), their errors, and the 48002 an app without contact-book
permission gets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from haina.core import clock
from haina.sandbox.emulators.wecom_users import set_contact_book_permission
from haina.sandbox.state import SandboxState
from tests.sandbox.test_wecom_emulator import START, WeComApi, make_world


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    clock.freeze(START)
    try:
        yield
    finally:
        clock.freeze(None)


@pytest.fixture
def state() -> SandboxState:
    return SandboxState(world=make_world())


@pytest.fixture
def api(state: SandboxState) -> WeComApi:
    return WeComApi(state)


def test_user_get_answers_one_member(api: WeComApi) -> None:
    answer = api.get("/cgi-bin/user/get", userid="tommy")
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    assert (answer["userid"], answer["name"], answer["department"]) == ("tommy", "汤米", [2])
    assert (answer["position"], answer["mobile"], answer["main_department"]) == ("导购", "13900000002", 2)


def test_user_get_errors(api: WeComApi) -> None:
    unknown = api.get("/cgi-bin/user/get", userid="nobody")
    assert unknown["errcode"] == 60111
    assert unknown["errmsg"].startswith("userid not found")
    assert api.get("/cgi-bin/user/get")["errcode"] == 41009
    assert (
        api.http.get("/sandbox/wecom/cgi-bin/user/get", params={"userid": "rocky"}).json()["errcode"] == 41001
    )


def test_simplelist_of_the_root_with_children_lists_everyone(api: WeComApi) -> None:
    answer = api.get("/cgi-bin/user/simplelist", department_id="1", fetch_child="1")
    assert answer["errcode"] == 0
    assert answer["userlist"] == [
        {"userid": "rocky", "name": "罗琪", "department": [1]},
        {"userid": "tommy", "name": "汤米", "department": [2]},
    ]


def test_simplelist_without_children_lists_direct_members_only(api: WeComApi) -> None:
    root = api.get("/cgi-bin/user/simplelist", department_id="1", fetch_child="0")
    assert [user["userid"] for user in root["userlist"]] == ["rocky"]
    store = api.get("/cgi-bin/user/simplelist", department_id="2")
    assert [user["userid"] for user in store["userlist"]] == ["tommy"]


def test_simplelist_rejects_an_unknown_department(api: WeComApi) -> None:
    assert api.get("/cgi-bin/user/simplelist", department_id="99")["errcode"] == 60123
    assert api.get("/cgi-bin/user/simplelist", department_id="abc")["errcode"] == 60123


def test_no_contact_book_permission_is_48002(api: WeComApi, state: SandboxState) -> None:
    set_contact_book_permission(state, False)
    assert api.get("/cgi-bin/user/simplelist", department_id="1", fetch_child="1")["errcode"] == 48002
    assert api.get("/cgi-bin/user/get", userid="rocky")["errcode"] == 48002
    # Customer contact is a separate permission and keeps working.
    assert api.get("/cgi-bin/externalcontact/get_follow_user_list")["follow_user"] == ["rocky", "tommy"]
    set_contact_book_permission(state, True)
    assert api.get("/cgi-bin/user/get", userid="rocky")["name"] == "罗琪"
