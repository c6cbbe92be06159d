"""Demo data of the scripts library: the usual scenes and a dozen realistic scripts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from haina.core.auth.actor import Actor
from haina.engage.scripts import service

SCRIPTS: tuple[tuple[str, str, str, str, list[str], dict[str, str]], ...] = (
    (
        "售前咨询",
        "text",
        "欢迎咨询",
        "{客户昵称}您好，我是海纳美妆的专属顾问小纳～有任何护肤问题都可以问我哦。",
        ["欢迎", "问候"],
        {},
    ),
    (
        "售前咨询",
        "text",
        "敏感肌选品建议",
        "{客户昵称}，敏感肌建议先选无香精、无酒精的修护系列，首次使用请在耳后试用 24 小时，确认没有过敏反应再全脸使用。",
        ["敏感肌", "试用"],
        {},
    ),
    (
        "售前咨询",
        "link",
        "新客专享券领取",
        "{客户昵称}，新客专享满199减30券已为您准备好，点击领取后下单即可使用。",
        ["优惠券", "新客"],
        {"link_url": "https://shop.example.com/coupon/new", "link_description": "满199减30，限时三天"},
    ),
    (
        "售后安抚",
        "text",
        "退款流程说明",
        "{客户昵称}，退款流程：在订单页点“申请售后”→选择“仅退款/退货退款”→填写原因提交，审核通过后 1-3 个工作日原路退回。",
        ["退款", "售后"],
        {},
    ),
    (
        "售后安抚",
        "text",
        "物流延迟致歉",
        "非常抱歉{客户昵称}，受天气影响快递有延迟，我们已联系快递加急处理，有进展第一时间告诉您。",
        ["物流", "延迟", "快递"],
        {},
    ),
    (
        "售后安抚",
        "text",
        "使用后皮肤不适",
        "{客户昵称}，出现泛红刺痛请立即停用并用清水洗净；如持续不适请就医，我们会全程跟进并为您办理退换。",
        ["过敏", "不适"],
        {},
    ),
    (
        "催付",
        "text",
        "下单未付款提醒",
        "{客户昵称}，您拍下的宝贝还没有付款哦，库存紧张，优惠将在今晚24点结束～",
        ["催付", "未付款"],
        {},
    ),
    (
        "复购提醒",
        "text",
        "面霜用完提醒",
        "{客户昵称}，按使用周期您的面霜快用完啦，老客回购享第二件半价，需要帮您预留吗？",
        ["复购", "回购"],
        {},
    ),
    (
        "复购提醒",
        "miniprogram",
        "会员积分商城",
        "",
        ["积分", "会员"],
        {
            "miniprogram_appid": "wx1234567890abcdef",
            "miniprogram_page": "pages/points/index",
            "image_url": "https://shop.example.com/img/points.png",
        },
    ),
)


def seed(session: Session, tenant_id: str, corp: Any) -> None:
    """Idempotent: does nothing when the tenant's library has scripts already."""
    if service.search(session, tenant_id, "", limit=1):
        return
    actor = Actor("demo", tenant_id, "demo", "运营 小李", "owner")
    scenes = {scene.name: scene.id for scene in service.ensure_default_scenes(session, actor)}
    for number, (scene, kind, title, content, keywords, extra) in enumerate(SCRIPTS):
        script = service.create_script(
            session,
            actor,
            service.ScriptInput(
                title=title,
                kind=kind,
                scene_id=scenes.get(scene),
                content=content,
                keywords=keywords,
                **extra,
            ),
        )
        for _ in range((len(SCRIPTS) - number) % 5):
            service.record_use(session, tenant_id, script.id)
