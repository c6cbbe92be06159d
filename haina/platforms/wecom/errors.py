"""WeCom's global error codes (errcode) that Haina meets, and the Finance SDK's return codes.

WeCom answers errors as HTTP 200 with `{"errcode": N, "errmsg": "..."}` (REFERENCE §1.1). Code
on errcode only: WeCom says errmsg may change. The English errmsg texts below are what the
sandbox sends; they are modelled on real answers but [UNCONFIRMED] word for word.
"""

from __future__ import annotations

SYSTEM_BUSY = -1
OK = 0
INVALID_SECRET = 40001
INVALID_USERID = 40003
INVALID_CORPID = 40013
INVALID_ACCESS_TOKEN = 40014
INVALID_OAUTH_CODE = 40029
INVALID_CHAT_ID = 40050
INVALID_PARAMETER = 40058
INVALID_TAG_ID = 40068
INVALID_TAG_NAME = 40071  # the name already exists in the group
INVALID_EXTERNAL_USERID = 40096
TAG_LIMIT_REACHED = 40126
MISSING_ACCESS_TOKEN = 41001
MISSING_CORPID = 41002
MISSING_SECRET = 41004
MISSING_OAUTH_CODE = 41008
MISSING_USERID = 41009
MISSING_EXTERNAL_USERID = 41035
MISSING_CONTACT_WAY_TYPE = 41037
MISSING_CONTACT_WAY_SCENE = 41038
INVALID_CONTACT_WAY_TYPE = 41039
INVALID_CONTACT_WAY_SCENE = 41040
CONTACT_WAY_TOO_MANY_USERS = 41041
MISSING_CONFIG_ID = 41043
INVALID_CONFIG_ID = 41044
NO_RECIPIENTS = 41048
MISSING_WELCOME_CODE = 41049
INVALID_WELCOME_CODE = 41050  # unknown, or older than 20 s
ALREADY_CHATTING = 41051
MASS_MESSAGE_DISTRIBUTING = 41063
WELCOME_CODE_DISTRIBUTING = 41096
ACCESS_TOKEN_EXPIRED = 42001
API_FREQ_OUT_OF_LIMIT = 45009
API_CONCURRENCY_OUT_OF_LIMIT = 45033
DATA_FORMAT_ERROR = 47001
NO_API_PERMISSION = 48002
INVALID_CURSOR = 50100
USERID_NOT_FOUND = 60111
NOT_EXTERNAL_CONTACT = 84061  # no relationship between this member and this customer
CUSTOMER_TRANSFER_LIMIT = 40129  # [UNCONFIRMED] code: transferred twice within 90 days already

MESSAGES: dict[int, str] = {
    SYSTEM_BUSY: "system busy",
    OK: "ok",
    INVALID_SECRET: "invalid credential",
    INVALID_USERID: "invalid userid",
    INVALID_CORPID: "invalid corpid",
    INVALID_ACCESS_TOKEN: "invalid access_token",
    INVALID_OAUTH_CODE: "invalid code",
    INVALID_CHAT_ID: "chatid not found",
    INVALID_PARAMETER: "invalid parameter",
    INVALID_TAG_ID: "invalid tagid",
    INVALID_TAG_NAME: "tag name already exists",
    INVALID_EXTERNAL_USERID: "invalid external userid",
    TAG_LIMIT_REACHED: "corp tag count reaches the limit",
    MISSING_ACCESS_TOKEN: "access_token missing",
    MISSING_CORPID: "corpid missing",
    MISSING_SECRET: "corpsecret missing",
    MISSING_OAUTH_CODE: "code missing",
    MISSING_USERID: "userid missing",
    MISSING_EXTERNAL_USERID: "external_userid missing",
    MISSING_CONTACT_WAY_TYPE: "contact way type missing",
    MISSING_CONTACT_WAY_SCENE: "contact way scene missing",
    INVALID_CONTACT_WAY_TYPE: "invalid contact way type",
    INVALID_CONTACT_WAY_SCENE: "invalid contact way scene",
    CONTACT_WAY_TOO_MANY_USERS: "contact way user count exceeds the limit",
    MISSING_CONFIG_ID: "config_id missing",
    INVALID_CONFIG_ID: "invalid config_id",
    NO_RECIPIENTS: "no customer to send to",
    MISSING_WELCOME_CODE: "welcome_code missing",
    INVALID_WELCOME_CODE: "invalid welcome_code",
    ALREADY_CHATTING: "customer and member have already chatted",
    MASS_MESSAGE_DISTRIBUTING: "mass message is being distributed",
    WELCOME_CODE_DISTRIBUTING: "welcome_code is being distributed",
    ACCESS_TOKEN_EXPIRED: "access_token expired",
    API_FREQ_OUT_OF_LIMIT: "api freq out of limit",
    API_CONCURRENCY_OUT_OF_LIMIT: "api concurrent out of limit",
    DATA_FORMAT_ERROR: "data format error",
    NO_API_PERMISSION: "api forbidden",
    INVALID_CURSOR: "invalid cursor",
    USERID_NOT_FOUND: "userid not found",
    NOT_EXTERNAL_CONTACT: "not external contact",
    CUSTOMER_TRANSFER_LIMIT: "customer transfer count exceeds the limit",
}

# What a client should do about a code: fetch a new token and retry once, back off, or retry.
REFRESH_TOKEN_AND_RETRY = frozenset({INVALID_ACCESS_TOKEN, ACCESS_TOKEN_EXPIRED})
BACK_OFF = frozenset({API_FREQ_OUT_OF_LIMIT, API_CONCURRENCY_OUT_OF_LIMIT})
RETRY_LATER = frozenset({SYSTEM_BUSY})
RESTART_CRAWL = frozenset({INVALID_CURSOR})

# errmsg suffix newer WeCom servers append (REFERENCE §1.1).
MORE_INFO_URL = "https://open.work.weixin.qq.com/devtool/query?e={errcode}"


def message_for(errcode: int) -> str:
    return MESSAGES.get(errcode, "unknown error")


class WeComApiError(Exception):
    """A non-zero errcode, raised by the connector on an answer and by the sandbox to give one."""

    def __init__(self, errcode: int, detail: str = "") -> None:
        self.errcode = errcode
        self.errmsg = message_for(errcode) + (f": {detail}" if detail else "")
        super().__init__(f"WeCom errcode {errcode}: {self.errmsg}")


# -- Finance SDK (会话存档) return codes, REFERENCE §1.7 -------------------------------------
ARCHIVE_BAD_PARAMETER = 10000
ARCHIVE_NETWORK_ERROR = 10001
ARCHIVE_PARSE_ERROR = 10002
ARCHIVE_SYSTEM_ERROR = 10003
ARCHIVE_KEY_ENCRYPT_FAILED = 10004
ARCHIVE_BAD_FILE_ID = 10005
ARCHIVE_DECRYPT_FAILED = 10006
ARCHIVE_NO_PRIVATE_KEY = 10007
ARCHIVE_BAD_ENCRYPT_KEY = 10008
ARCHIVE_IP_FORBIDDEN = 10009
ARCHIVE_DATA_EXPIRED = 10010
ARCHIVE_CERTIFICATE_ERROR = 10011

ARCHIVE_MESSAGES: dict[int, str] = {
    ARCHIVE_BAD_PARAMETER: "参数错误",
    ARCHIVE_NETWORK_ERROR: "网络请求错误",
    ARCHIVE_PARSE_ERROR: "数据解析失败",
    ARCHIVE_SYSTEM_ERROR: "系统失败",
    ARCHIVE_KEY_ENCRYPT_FAILED: "密钥错误导致加密失败",
    ARCHIVE_BAD_FILE_ID: "fileid错误",
    ARCHIVE_DECRYPT_FAILED: "解密失败",
    ARCHIVE_NO_PRIVATE_KEY: "找不到消息加密版本的私钥",
    ARCHIVE_BAD_ENCRYPT_KEY: "解析encrypt_key出错",
    ARCHIVE_IP_FORBIDDEN: "ip非法",
    ARCHIVE_DATA_EXPIRED: "数据过期",
    ARCHIVE_CERTIFICATE_ERROR: "证书错误",
}


class ArchiveSdkError(Exception):
    """A Finance SDK return code, from the real SDK wrapper or the sandbox's stand-in."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        message = ARCHIVE_MESSAGES.get(code, "unknown error") + (f": {detail}" if detail else "")
        self.message = message
        super().__init__(f"Finance SDK {code}: {message}")
