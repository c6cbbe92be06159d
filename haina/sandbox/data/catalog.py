"""What the sandbox merchant sells and how it organises itself: products, shops, coupon
templates, WeCom tag groups, customer-group themes and channel codes."""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("beauty", "mother_baby", "appliance", "snacks")

MERCHANT_NAMES = ("悦然生活", "禾木优选", "沐光良品")


@dataclass(frozen=True, slots=True)
class CatalogItem:
    code: str  # the merchant's own SKU code (outer_sku)
    category: str
    kind: str  # drives follow-up purchases: robot → robot_part, formula stages, gift boxes
    title: str
    price_fen: int
    stage: int = 0  # formula stage, or the first baby month a diaper size fits


CATALOG: tuple[CatalogItem, ...] = (
    # 护肤 / 彩妆 (brand 润颜)
    CatalogItem("RY-ES-030", "beauty", "skincare", "润颜 玻尿酸保湿精华液 30ml", 25900),
    CatalogItem("RY-ES-050", "beauty", "skincare", "润颜 玻尿酸保湿精华液 50ml", 36900),
    CatalogItem("RY-CL-120", "beauty", "skincare", "润颜 氨基酸温和洁面乳 120g", 8900),
    CatalogItem("RY-CR-050", "beauty", "sensitive", "润颜 积雪草舒缓修护面霜 50g 敏感肌适用", 19900),
    CatalogItem("RY-SET-02", "beauty", "sensitive", "润颜 积雪草舒缓修护水乳套装", 32900),
    CatalogItem("RY-MK-010", "beauty", "skincare", "润颜 烟酰胺亮肤面膜 10片/盒", 12900),
    CatalogItem("RY-SS-050", "beauty", "skincare", "润颜 轻薄水感防晒乳 SPF50+ PA++++ 50ml", 13900),
    CatalogItem("RY-EY-015", "beauty", "skincare", "润颜 视黄醇抗皱眼霜 15g", 23900),
    CatalogItem("RY-CO-200", "beauty", "skincare", "润颜 温和卸妆油 200ml", 11900),
    CatalogItem("RY-LP-316", "beauty", "makeup", "润颜 丝绒雾面口红 #316 豆沙色", 14900),
    CatalogItem("RY-LP-999", "beauty", "makeup", "润颜 丝绒雾面口红 #999 正红色", 14900),
    CatalogItem("RY-FD-001", "beauty", "makeup", "润颜 持妆粉底液 30ml 01象牙白", 19900),
    CatalogItem("RY-FD-002", "beauty", "makeup", "润颜 持妆粉底液 30ml 02自然色", 19900),
    CatalogItem("RY-ES-402", "beauty", "makeup", "润颜 四色眼影盘 #02 大地色", 16900),
    # 奶粉 / 纸尿裤 (brand 贝护)
    CatalogItem("BH-MF1-800", "mother_baby", "formula", "贝护 婴儿配方奶粉 1段(0-6月) 800g", 29800, 1),
    CatalogItem("BH-MF2-800", "mother_baby", "formula", "贝护 较大婴儿配方奶粉 2段(6-12月) 800g", 28800, 2),
    CatalogItem("BH-MF3-800", "mother_baby", "formula", "贝护 幼儿配方奶粉 3段(12-36月) 800g", 26800, 3),
    CatalogItem("BH-MF3-BOX", "mother_baby", "formula", "贝护 幼儿配方奶粉 3段 800g×6罐 整箱", 148800, 3),
    CatalogItem("BH-DP-NB84", "mother_baby", "diaper", "贝护 云柔纸尿裤 NB码 84片", 12900, 0),
    CatalogItem("BH-DP-S72", "mother_baby", "diaper", "贝护 云柔纸尿裤 S码 72片", 12900, 1),
    CatalogItem("BH-DP-M62", "mother_baby", "diaper", "贝护 云柔纸尿裤 M码 62片", 13900, 4),
    CatalogItem("BH-DP-L54", "mother_baby", "diaper", "贝护 云柔纸尿裤 L码 54片", 13900, 8),
    CatalogItem("BH-PU-XL42", "mother_baby", "diaper", "贝护 成长拉拉裤 XL码 42片", 14900, 13),
    CatalogItem("BH-PU-XXL36", "mother_baby", "diaper", "贝护 成长拉拉裤 XXL码 36片", 14900, 20),
    CatalogItem("BH-WP-806", "mother_baby", "baby_care", "贝护 婴儿手口湿巾 80抽×6包", 5900),
    CatalogItem("BH-SH-300", "mother_baby", "baby_care", "贝护 儿童洗发沐浴二合一 300ml", 6900),
    # 扫地机器人 / 净水器 and their consumables (brand 洁宝)
    CatalogItem("JB-RB-T8", "appliance", "robot", "洁宝 扫地机器人 T8 扫拖一体", 229900),
    CatalogItem("JB-RB-X10P", "appliance", "robot", "洁宝 扫地机器人 X10 Pro 自动集尘", 399900),
    CatalogItem("JB-RP-BR4", "appliance", "robot_part", "洁宝 扫地机器人配件 边刷×4", 4900),
    CatalogItem("JB-RP-HP3", "appliance", "robot_part", "洁宝 扫地机器人配件 HEPA滤网×3", 5900),
    CatalogItem("JB-RP-MOP6", "appliance", "robot_part", "洁宝 扫地机器人配件 拖布×6", 3900),
    CatalogItem("JB-RP-BAG6", "appliance", "robot_part", "洁宝 X10 集尘袋×6", 7900),
    CatalogItem("JB-RP-KIT", "appliance", "robot_part", "洁宝 扫地机器人耗材全家桶", 19900),
    CatalogItem("JB-WP-600", "appliance", "purifier", "洁宝 RO反渗透净水器 600G 厨下式", 199900),
    CatalogItem("JB-WP-800", "appliance", "purifier", "洁宝 RO反渗透净水器 800G 厨下式 零陈水", 279900),
    CatalogItem("JB-FT-PPC", "appliance", "filter", "洁宝 净水器 PP棉复合滤芯", 19900),
    CatalogItem("JB-FT-RO", "appliance", "filter", "洁宝 净水器 RO反渗透滤芯", 59900),
    CatalogItem("JB-FT-T33", "appliance", "filter", "洁宝 净水器 后置活性炭滤芯", 12900),
    CatalogItem("JB-VC-V8", "appliance", "vacuum", "洁宝 手持无线吸尘器 V8", 129900),
    # 零食 (brand 香脆坊)
    CatalogItem("XC-NUT-750", "snacks", "snack", "香脆坊 每日坚果 750g/30袋", 12900),
    CatalogItem("XC-MAC-500", "snacks", "snack", "香脆坊 夏威夷果 奶油味 500g", 4990),
    CatalogItem("XC-BF-200", "snacks", "snack", "香脆坊 手撕牛肉干 五香味 200g", 5990),
    CatalogItem("XC-EYP-6", "snacks", "snack", "香脆坊 蛋黄酥 6枚/盒", 2990),
    CatalogItem("XC-LT-1KG", "snacks", "snack", "香脆坊 辣条大礼包 1kg", 3990),
    CatalogItem("XC-MG-500", "snacks", "snack", "香脆坊 芒果干 500g", 3590),
    CatalogItem("XC-HM-200", "snacks", "snack", "香脆坊 黑糖话梅 200g", 1990),
    CatalogItem("XC-GIFT-18", "snacks", "giftbox", "香脆坊 年货坚果礼盒 1.8kg", 19900),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ShopTemplate:
    shop_id: str
    platform: str
    name_suffix: str
    category_weights: tuple[int, int, int, int]  # beauty, mother_baby, appliance, snacks
    buyer_weight: int  # how many of the merchant's buyers shop here
    city: str = ""  # POS stores only
    district: str = ""
    price_percent: int = 100  # list price on this shop (PDD/Douyin run cheaper)


SHOPS: tuple[ShopTemplate, ...] = (
    ShopTemplate("tm_flagship", "tmall", "官方旗舰店", (4, 3, 3, 2), 30),
    ShopTemplate("tb_baby", "taobao", "母婴专营店", (0, 6, 0, 2), 12),
    ShopTemplate("tb_home", "taobao", "生活馆", (3, 1, 3, 3), 12),
    ShopTemplate("yz_mall", "youzan", "微商城", (3, 3, 2, 2), 18),
    ShopTemplate("jd_flagship", "jd", "京东旗舰店", (2, 3, 5, 1), 20),
    ShopTemplate("pdd_store", "pdd", "优选店", (1, 3, 1, 5), 20, price_percent=92),
    ShopTemplate("dy_flagship", "douyin", "抖音旗舰店", (5, 1, 1, 3), 16, price_percent=95),
    ShopTemplate("store_sh01", "pos", "·上海南京西路店", (6, 3, 0, 1), 4, "上海市", "静安区"),
    ShopTemplate("store_sh02", "pos", "·上海徐汇日月光店", (5, 4, 0, 1), 3, "上海市", "徐汇区"),
    ShopTemplate("store_hz01", "pos", "·杭州湖滨银泰店", (6, 3, 0, 1), 3, "杭州市", "上城区"),
)  # fmt: skip

# WeCom departments: 1 is head office (e-commerce service); stores follow in SHOPS order.
STORE_DEPARTMENTS = {"store_sh01": 2, "store_sh02": 3, "store_hz01": 4}


@dataclass(frozen=True, slots=True)
class CouponTemplate:
    title: str
    kind: str  # threshold / discount / cash
    threshold_fen: int
    value_fen: int
    discount_percent: int
    window: str  # year / 618 / 1111 / nianhuo / 38


COUPONS: tuple[CouponTemplate, ...] = (
    CouponTemplate("满99减10", "threshold", 9900, 1000, 0, "year"),
    CouponTemplate("满199减30", "threshold", 19900, 3000, 0, "year"),
    CouponTemplate("满299减50", "threshold", 29900, 5000, 0, "year"),
    CouponTemplate("新客无门槛5元", "cash", 0, 500, 0, "year"),
    CouponTemplate("会员9折券", "discount", 0, 0, 90, "year"),
    CouponTemplate("618 满399减60", "threshold", 39900, 6000, 0, "618"),
    CouponTemplate("618 无门槛10元", "cash", 0, 1000, 0, "618"),
    CouponTemplate("双11 满300减50", "threshold", 30000, 5000, 0, "1111"),
    CouponTemplate("双11 8.5折券", "discount", 0, 0, 85, "1111"),
    CouponTemplate("年货节 满159减20", "threshold", 15900, 2000, 0, "nianhuo"),
    CouponTemplate("女神节 8.8折", "discount", 0, 0, 88, "38"),
)  # fmt: skip

# WeCom corp tag groups (客户标签) the merchant set up.
TAG_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("客户等级", ("VIP", "老客", "新客", "潜在客户")),
    ("肤质", ("干性", "油性", "混合性", "敏感肌")),
    ("宝宝月龄", ("孕期", "0-6月", "6-12月", "1-3岁")),
    ("来源渠道", ("门店", "直播", "包裹卡", "广告", "微商城")),
    ("兴趣品类", ("护肤", "彩妆", "母婴", "家电", "零食")),
    ("售后", ("有投诉", "已退款", "过敏反馈")),
)  # fmt: skip

# Channel codes (the `state` of a contact way), the add_way they produce, and the source tag.
CHANNELS: tuple[tuple[str, int, str, int], ...] = (
    # state, add_way, source tag name, weight
    ("pack_card", 1, "包裹卡", 30),
    ("store_sh01", 1, "门店", 8),
    ("store_sh02", 1, "门店", 6),
    ("store_hz01", 1, "门店", 6),
    ("live_0618", 1, "直播", 8),
    ("live_1111", 1, "直播", 10),
    ("ad_douyin", 1, "广告", 6),
    ("mini_mall", 1, "微商城", 8),
    ("", 2, "", 10),  # searched the guide's mobile number
    ("", 3, "", 6),  # a friend shared the guide's card
    ("", 4, "", 2),  # added from a group chat
)  # fmt: skip

# Customer groups (客户群) by theme: name pattern and the category whose buyers join.
GROUP_THEMES: tuple[tuple[str, str], ...] = (
    ("{merchant}护肤福利群{n}群", "beauty"),
    ("{merchant}宝妈交流群{n}群", "mother_baby"),
    ("洁宝扫地机器人用户服务群{n}", "appliance"),
    ("{merchant}零食福利社{n}群", "snacks"),
)

GROUP_NOTICES = {
    "beauty": "本群每周三晚8点护肤直播，群内专享满199减30，肌肤问题随时@导购",
    "mother_baby": "宝妈互助群：育儿经验分享、奶粉纸尿裤团购，禁止发广告",
    "appliance": "扫地机器人使用问题、耗材购买、售后报修请@群主",
    "snacks": "每日10点秒杀，每周五抽奖，欢迎晒单",
}

REFUND_REASONS_FULL = (
    "七天无理由退货", "不想要了", "拍错/多拍", "商品质量问题", "发货太慢", "收到商品破损", "与描述不符",
)  # fmt: skip
REFUND_REASONS_PARTIAL = ("少件/漏发", "价格保护退差价", "赠品未发", "部分商品破损")
REFUND_REASON_ALLERGY = "使用后皮肤过敏"

BUYER_MESSAGES = (
    "请尽快发货", "不要放快递柜，放门卫", "送人的，不要放价格单", "宝宝急用，麻烦加急", "发顺丰",
    "下午6点后送", "多送点小样谢谢", "电话联系不上请发短信",
)  # fmt: skip

EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com")
