"""A small, seeded generator of Chinese customer records as Haina's platforms deliver them.

Each person appears in 1-4 sources, each source with its own habits: Taobao masks the phone
(138****5678) and gives a platform uid, WeCom may carry the name in traditional characters or in
pinyin, Youzan and the POS give full phones and addresses written every which way (with or without
省/市, full-width digits). Some people share a household (address, tablet) with another person;
some share a common name (张伟) with a stranger. `person` holds the truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import zhconv

SURNAMES = [
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "高",
    "林",
    "罗",
    "郑",
    "梁",
    "谢",
    "宋",
    "唐",
    "许",
    "韩",
    "冯",
    "邓",
    "曹",
    "彭",
    "曾",
    "肖",
    "田",
    "董",
    "袁",
    "潘",
    "蒋",
    "蔡",
    "余",
    "杜",
    "叶",
    "程",
    "苏",
    "魏",
    "吕",
    "丁",
    "任",
    "沈",
    "姚",
    "卢",
    "姜",
    "崔",
    "钟",
    "谭",
    "陆",
    "汪",
    "范",
    "金",
    "石",
    "廖",
    "贾",
    "夏",
    "韦",
    "方",
    "白",
    "邹",
    "孟",
    "熊",
    "秦",
    "邱",
    "江",
    "尹",
    "薛",
    "欧阳",
    "司马",
    "上官",
]
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀",
    "霞",
    "平",
    "刚",
    "英",
    "华",
    "玉",
    "萍",
    "红",
    "鹏",
    "辉",
    "建",
    "文",
    "斌",
    "宇",
    "浩",
    "凯",
    "健",
    "俊",
    "帆",
    "旭",
    "宁",
    "龙",
    "欣",
    "佳",
    "怡",
    "雪",
    "琳",
    "晨",
    "涵",
    "轩",
    "博",
    "睿",
    "思",
    "雨",
    "诗",
    "嘉",
    "子",
    "梓",
    "一",
    "可",
    "晓",
    "海",
    "国",
    "志",
    "春",
]
HOMOPHONES = {
    "伟": "玮",
    "明": "鸣",
    "华": "桦",
    "丽": "莉",
    "静": "晶",
    "军": "君",
    "涛": "韬",
    "平": "萍",
    "红": "虹",
    "杰": "洁",
    "芳": "方",
    "磊": "蕾",
    "超": "潮",
    "辉": "晖",
    "鹏": "朋",
    "斌": "彬",
    "宇": "雨",
    "浩": "昊",
    "凯": "恺",
    "俊": "骏",
    "欣": "心",
    "佳": "嘉",
    "怡": "宜",
    "琳": "林",
    "晨": "辰",
    "涵": "含",
    "睿": "瑞",
}
PLACES = (
    ("广东", "深圳", "南山", "区"),
    ("广东", "广州", "天河", "区"),
    ("浙江", "杭州", "西湖", "区"),
    ("浙江", "宁波", "鄞州", "区"),
    ("江苏", "南京", "鼓楼", "区"),
    ("江苏", "苏州", "吴中", "区"),
    ("上海", "上海", "浦东", "新区"),
    ("北京", "北京", "朝阳", "区"),
    ("四川", "成都", "武侯", "区"),
    ("湖北", "武汉", "洪山", "区"),
    ("山东", "青岛", "崂山", "区"),
    ("福建", "厦门", "思明", "区"),
    ("河南", "郑州", "金水", "区"),
    ("湖南", "长沙", "岳麓", "区"),
    ("安徽", "合肥", "蜀山", "区"),
    ("陕西", "西安", "雁塔", "区"),
)
ROADS = [
    "深南大道",
    "中山路",
    "人民路",
    "解放路",
    "建设路",
    "和平路",
    "文一西路",
    "长江路",
    "科技路",
    "学府路",
    "南京路",
    "新华路",
    "滨河路",
    "光明街",
    "幸福里",
]
PREFIXES = ["138", "139", "150", "158", "186", "187", "136", "135", "188", "177", "133", "199"]
SOURCES = ("taobao", "wecom", "youzan", "pos", "douyin")


@dataclass
class Person:
    index: int
    name: str
    phone: str
    birth_date: tuple[int, int, int]
    place: tuple[str, str, str, str]
    street: str
    device_id: str
    email: str = ""
    second_phone: str = ""
    office: tuple[str, str, str, str] | None = None
    office_street: str = ""


@dataclass
class SyntheticSet:
    records: list[dict[str, str]] = field(default_factory=list)
    person: dict[str, int] = field(default_factory=dict)  # record_id → person index
    households: list[tuple[int, int]] = field(default_factory=list)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _phone(rng: random.Random) -> str:
    return rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}"


def _street(rng: random.Random) -> str:
    return f"{rng.choice(ROADS)}{rng.randrange(1, 400)}号{rng.randrange(1, 30)}栋{rng.randrange(1, 30)}0{rng.randrange(1, 9)}室"


def _people(rng: random.Random, count: int) -> tuple[list[Person], list[tuple[int, int]]]:
    people: list[Person] = []
    households = []
    while len(people) < count:
        index = len(people)
        person = Person(
            index=index,
            name=_name(rng),
            phone=_phone(rng),
            birth_date=(rng.randrange(1960, 2005), rng.randrange(1, 13), rng.randrange(1, 29)),
            place=rng.choice(PLACES),
            street=_street(rng),
            device_id=f"dev-{rng.randrange(16**10):010x}",
        )
        if rng.random() < 0.3:
            person.email = f"{rng.randrange(10**5, 10**10)}@qq.com"
        if rng.random() < 0.1:
            person.second_phone = _phone(rng)
        if rng.random() < 0.15:
            # Also orders things to the office, in the same city.
            province, city, _, _ = person.place
            person.office = next((place for place in PLACES if place[:2] == (province, city)), person.place)
            person.office_street = _street(rng)
        people.append(person)
        if rng.random() < 0.12 and len(people) < count:
            # A household member: same address and tablet, own name and phone; often the same surname.
            surname = person.name[:2] if person.name[:2] in SURNAMES else person.name[:1]
            member_name = (surname if rng.random() < 0.6 else rng.choice(SURNAMES)) + rng.choice(GIVEN)
            if member_name == person.name:
                member_name += rng.choice(GIVEN)
            member = Person(
                index=index + 1,
                name=member_name,
                phone=_phone(rng),
                birth_date=(rng.randrange(1960, 2005), rng.randrange(1, 13), rng.randrange(1, 29)),
                place=person.place,
                street=person.street,
                device_id=person.device_id,
            )
            people.append(member)
            households.append((index, index + 1))
        if rng.random() < 0.04 and len(people) < count:
            # A stranger with the very same (common) name somewhere else.
            stranger = Person(
                index=len(people),
                name=person.name,
                phone=_phone(rng),
                birth_date=(rng.randrange(1960, 2005), rng.randrange(1, 13), rng.randrange(1, 29)),
                place=rng.choice(PLACES),
                street=_street(rng),
                device_id=f"dev-{rng.randrange(16**10):010x}",
            )
            people.append(stranger)
    return people, households


def _vary_name(rng: random.Random, name: str) -> str:
    roll = rng.random()
    if roll < 0.05:
        surname = name[:2] if name[:2] in SURNAMES else name[:1]
        return surname + rng.choice(("先生", "女士"))
    if roll < 0.07:
        return "小" + rng.choice(GIVEN) if rng.random() < 0.5 else rng.choice(GIVEN) + "宝"  # a nickname
    roll = rng.random()
    if roll < 0.15:
        return str(zhconv.convert(name, "zh-tw"))
    if roll < 0.25:
        homophone = [HOMOPHONES.get(character, character) for character in name]
        position = rng.randrange(1, len(name))
        return name[:position] + homophone[position] + name[position + 1 :]
    if roll < 0.3:
        from pypinyin import lazy_pinyin

        syllables = lazy_pinyin(name)
        surname_length = 2 if name[:2] in SURNAMES else 1
        surname = "".join(syllables[:surname_length]).capitalize()
        given = "".join(syllables[surname_length:]).capitalize()
        return f"{surname} {given}" if rng.random() < 0.5 else f"{given} {surname}"
    if roll < 0.34:
        return " ".join(name)  # 张 伟 typed with spaces
    return name


def _vary_address(rng: random.Random, person: Person) -> tuple[str, str, str]:
    province, city, district, suffix = person.place
    street = person.street
    if person.office and rng.random() < 0.4:
        province, city, district, suffix = person.office
        street = person.office_street
    if rng.random() < 0.15:
        street = street.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if rng.random() < 0.1:
        street = street.replace("栋", "幢")
    province_full = province if province in {"北京", "上海"} else province + "省"
    city_full = city + "市"
    roll = rng.random()
    if roll < 0.35:
        return province_full, city_full, district + suffix + street
    if roll < 0.6:
        return "", "", province_full + city_full + district + suffix + street
    if roll < 0.75:
        return province, city, district + street
    if roll < 0.85:
        return "", "", province + city + district + suffix + " " + street
    return province_full, city_full, ""


def _date(rng: random.Random, birth: tuple[int, int, int]) -> str:
    year, month, day = birth
    if rng.random() < 0.05:
        day = day + 1 if day < 28 else day - 1  # a typo, or the lunar birthday
    return rng.choice(
        (
            f"{year}-{month:02d}-{day:02d}",
            f"{year}/{month}/{day}",
            f"{year}{month:02d}{day:02d}",
            f"{year}年{month}月{day}日",
        )
    )


def _mask(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def _record(rng: random.Random, person: Person, source: str, number: int) -> dict[str, str]:
    province, city, address = _vary_address(rng, person)
    phone = person.second_phone if person.second_phone and rng.random() < 0.5 else person.phone
    record = {
        "record_id": f"{source}-{number:05d}",
        "source": source,
        "name": _vary_name(rng, person.name),
        "phone": phone,
        "email": person.email if rng.random() < 0.7 else "",
        "province": province,
        "city": city,
        "address": address,
        "birth_date": _date(rng, person.birth_date) if rng.random() < 0.4 else "",
        "device_id": "",
        "platform_uid": "",
    }
    if source == "taobao":
        record["phone"] = _mask(phone)
        record["platform_uid"] = f"tb{person.index:06d}x"
        record["email"] = ""
    elif source == "douyin":
        record["phone"] = _mask(phone) if rng.random() < 0.7 else ""
        record["device_id"] = person.device_id
        record["province"] = record["city"] = record["address"] = ""
    elif source == "wecom":
        record["phone"] = phone if rng.random() < 0.6 else ""
        record["device_id"] = person.device_id if rng.random() < 0.5 else ""
    elif source == "pos":
        record["phone"] = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}" if rng.random() < 0.3 else phone
        record["email"] = ""
    if rng.random() < 0.08:
        record["name"] = ""
    return record


def generate(people: int = 400, seed: int = 7) -> SyntheticSet:
    """Records of `people` people (1-4 records each, in distinct sources), shuffled."""
    rng = random.Random(seed)
    persons, households = _people(rng, people)
    out = SyntheticSet(households=households)
    counter = 0
    for person in persons:
        sources = rng.sample(SOURCES, rng.choice((1, 2, 2, 3, 3, 4)))
        for source in sources:
            counter += 1
            record = _record(rng, person, source, counter)
            out.records.append(record)
            out.person[record["record_id"]] = person.index
    rng.shuffle(out.records)
    return out


def pair_scores(result_clusters: dict[str, str], truth: dict[str, int]) -> tuple[float, float, int]:
    """(precision, recall, false pairs) of the pairs put together by a clustering."""
    from collections import Counter, defaultdict

    clusters: dict[str, list[int]] = defaultdict(list)
    for record_id, cluster_id in result_clusters.items():
        clusters[cluster_id].append(truth[record_id])
    predicted = sum(len(members) * (len(members) - 1) // 2 for members in clusters.values())
    correct = sum(
        count * (count - 1) // 2 for members in clusters.values() for count in Counter(members).values()
    )
    people = Counter(truth.values())
    true = sum(count * (count - 1) // 2 for count in people.values())
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    return precision, recall, predicted - correct
