"""Signers shared by the Youzan and Taobao connectors and emulators, against published vectors.

Where no vendor vector exists (TOP hmac / hmac-sha256, Youzan field cipher), the expected values
were computed once with the OpenSSL command line, an implementation independent of ours.
"""

from __future__ import annotations

import hashlib
import urllib.parse

import pytest

from haina.platforms.taobao import signing as top
from haina.platforms.youzan import signing as youzan

# REFERENCE §3.2, TEST VECTOR 2 (a public walkthrough, recomputed there).
REFERENCE_PARAMETERS = {
    "method": "taobao.user.seller.get",
    "timestamp": "2013-05-06 13:52:03",
    "format": "xml",
    "app_key": "test",
    "v": "2.0",
    "fields": "nick",
    "sign_method": "md5",
    "session": "test",
}
REFERENCE_STRING = (
    "app_keytestfieldsnickformatxmlmethodtaobao.user.seller.getsessiontestsign_methodmd5"
    "timestamp2013-05-06 13:52:03v2.0"
)


def test_top_md5_reference_vector() -> None:
    assert top.string_to_sign(REFERENCE_PARAMETERS) == REFERENCE_STRING
    assert top.sign(REFERENCE_PARAMETERS, "test") == "72CB4D809B375A54502C09360D879C64"


def test_top_md5_vector_from_a_public_sdk_test_suite() -> None:
    # A Python TOP client's unit test (app key 12345678, secret "helloworld").
    parameters = {
        "method": "taobao.item.seller.get",
        "app_key": "12345678",
        "session": "test",
        "timestamp": "2016-01-01 12:00:00",
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
        "fields": "num_iid,title,nick,price,num",
        "num_iid": "11223344",
    }
    assert top.sign(parameters, "helloworld") == "66987CB115214E59E6EC978214934FB8"


def test_top_legacy_secret_prefix_vector_is_not_the_current_algorithm() -> None:
    # The 2009 SDKs' vector (E780A69E…) hashed secret + s without the trailing secret; the
    # current md5 method wraps both ends, so it must not reproduce it.
    parameters = {"nick": "winwindg", "fields": "nick,sex"}
    assert hashlib.md5(b"carver" + top.string_to_sign(parameters).encode()).hexdigest().upper() == (
        "E780A69E04E438846FAF25AD28047415"
    )
    assert top.sign(parameters, "carver", "md5") != "E780A69E04E438846FAF25AD28047415"


@pytest.mark.parametrize(
    ("sign_method", "expected"),
    [
        # openssl dgst -md5 -hmac test / -sha256 -hmac test over the string without secret wrapping
        ("hmac", "FA15A9D5B42AB2D6F3397843851ED09A"),
        ("hmac-sha256", "267B9C1C7A2FE1CE413DBB95E596616D32107AE0992BE2C22143CFCE303E8E34"),
    ],
)
def test_top_hmac_methods_key_with_the_secret_and_do_not_wrap(sign_method: str, expected: str) -> None:
    parameters = dict(REFERENCE_PARAMETERS, sign_method=sign_method)
    assert top.sign(parameters, "test") == expected


def test_top_hmac_sha256_hashes_utf8() -> None:
    parameters = {"nick": "风胜", "fields": "nick,sex", "app_key": "test"}
    assert top.sign(parameters, "密钥", "hmac-sha256") == (
        "50A22DA45B1DC9A01586C862E10837F2764D455B55FBB0E61CFB06E973B3C1F0"
    )


def test_top_sign_skips_sign_and_empty_values_and_appends_body() -> None:
    with_noise = dict(REFERENCE_PARAMETERS, sign="X", partner_id="", target_app_key=None)
    assert top.sign(with_noise, "test") == "72CB4D809B375A54502C09360D879C64"
    assert top.string_to_sign({"a": "1"}, body="<xml/>") == "a1<xml/>"
    assert top.string_to_sign({"flag": True, "n": 3}) == "flagtruen3"


def test_top_verify_uses_the_request_sign_method_and_rejects_tampering() -> None:
    for method in top.SIGN_METHODS:
        ready = top.signed(dict(REFERENCE_PARAMETERS, sign_method=None), "test", method)
        assert ready["sign_method"] == method
        assert top.verify(ready, "test")
        assert top.verify(dict(ready, sign=ready["sign"].lower()), "test")  # hex case is not significant
        assert not top.verify(dict(ready, fields="nick,sex"), "test")
        assert not top.verify(ready, "other secret")
    assert not top.verify(
        dict(REFERENCE_PARAMETERS, sign="72CB4D809B375A54502C09360D879C64", sign_method="sha1"), "test"
    )
    with pytest.raises(ValueError, match="sign_method"):
        top.sign(REFERENCE_PARAMETERS, "test", "sha1")


def test_youzan_push_sign_covers_the_url_encoded_msg() -> None:
    client_id, secret = "c346b8b39599aaa677", "secret123"
    msg = urllib.parse.quote_plus('{"tid":"E1"}')
    assert msg == "%7B%22tid%22%3A%22E1%22%7D"
    # md5("c346b8b39599aaa677%7B%22tid%22%3A%22E1%22%7Dsecret123"), computed with md5sum
    assert youzan.push_sign(client_id, msg, secret) == "84bfc48df559fbe047f22e0205e19bc3"
    message = {"client_id": client_id, "msg": msg, "sign": "84bfc48df559fbe047f22e0205e19bc3"}
    assert youzan.verify_push_sign(message, secret)
    assert not youzan.verify_push_sign(dict(message, msg=msg + "%20"), secret)
    assert not youzan.verify_push_sign(message, "wrong")
    # the third-party variant that hashes the decoded msg is accepted too [UNCONFIRMED]
    decoded = dict(message, sign=youzan.push_sign(client_id, '{"tid":"E1"}', secret))
    assert youzan.verify_push_sign(decoded, secret)


def test_youzan_event_sign_over_raw_body() -> None:
    body = b'{"type":"trade_TradePaid","msg":"{}"}'
    expected = hashlib.md5(b"cid" + body + b"sec").hexdigest()
    assert youzan.event_sign("cid", body, "sec") == expected
    assert youzan.verify_event_sign(body, expected.upper(), "cid", "sec")
    assert not youzan.verify_event_sign(body + b" ", expected, "cid", "sec")
    assert not youzan.verify_event_sign(body, "", "cid", "sec")


def test_youzan_legacy_sign_is_lowercase_md5_of_secret_wrapped_pairs() -> None:
    parameters = {"method": "kdt.trades.sold.get", "app_id": "a1", "v": "1.0", "sign": "ignored"}
    text = "secret" + "app_ida1" + "methodkdt.trades.sold.get" + "v1.0" + "secret"
    assert youzan.legacy_sign(parameters, "secret") == hashlib.md5(text.encode()).hexdigest()


def test_youzan_key_query_sign_uses_camel_case_pairs_in_key_order() -> None:
    text = "sec" + "clientIdcid" + "kdtId60102958" + "timestamp2024-03-01 12:00:00" + "sec"
    expected = hashlib.md5(text.encode()).hexdigest()
    assert youzan.encrypt_config_sign("cid", 60102958, "2024-03-01 12:00:00", "sec") == expected
    without_shop = hashlib.md5(b"secclientIdcidtimestamp2024-03-01 12:00:00sec").hexdigest()
    assert youzan.encrypt_config_sign("cid", None, "2024-03-01 12:00:00", "sec") == without_shop


@pytest.mark.parametrize(
    ("plaintext", "base64_ciphertext"),
    [
        # openssl enc -aes-128-ecb -K hex("0123456789abcdef") -base64
        ("18736955555", "yk+oGtxPqOzABHMg/arJRg=="),
        (
            "杭州市西湖区华泰科技园5号楼2楼217",
            "PbxK/tl+J7H2heKksgGeP6wgT6ge8UByrrpDqpPEFuyq52vtA4Go8nyNGenMwUKI",
        ),
    ],
)
def test_youzan_field_ciphertext_matches_openssl(plaintext: str, base64_ciphertext: str) -> None:
    key = "0123456789abcdefGHIJKLMN"  # 24 characters as served; only the first 16 bytes key AES
    ciphertext = youzan.encrypt_field(plaintext, key, 3)
    assert ciphertext == f"${base64_ciphertext}$3$"
    assert youzan.is_encrypted(ciphertext)
    assert youzan.field_key_version(ciphertext) == 3
    assert youzan.decrypt_field(ciphertext, key) == plaintext


@pytest.mark.parametrize(
    "text", ["18736955555", "$abc$", "$yk+oGtxPqOzABHMg/arJRg==$x$", "", "a$b$1$", "$@@@$1$"]
)
def test_youzan_plaintext_is_not_mistaken_for_ciphertext(text: str) -> None:
    assert not youzan.is_encrypted(text)


def test_youzan_mobile_mask_keeps_first_three_and_last_four() -> None:
    assert youzan.mask_mobile("13800138000") == "138****8000"
    assert youzan.mask_mobile("123456") == "123456"


def test_youzan_push_checks_never_crash_on_odd_input() -> None:
    from haina.platforms.youzan.signing import event_sign, verify_event_sign, verify_push_sign

    body = b"\xff\xfe not utf-8"
    good = event_sign("client", body, "secret")
    assert verify_event_sign(body, good, "client", "secret")
    assert not verify_event_sign(body, "签名", "client", "secret")
    assert not verify_push_sign({"sign": "签名", "client_id": "c", "msg": "m"}, "secret")
