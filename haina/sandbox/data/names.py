"""Chinese personal names and the ways one name gets written differently across platforms."""

from __future__ import annotations

# Surnames with rough relative frequency (per 1,000); the long tail keeps namesakes realistic.
SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 72), ("李", 71), ("张", 68), ("刘", 53), ("陈", 45), ("杨", 31), ("黄", 22), ("赵", 20),
    ("吴", 20), ("周", 19), ("徐", 13), ("孙", 12), ("马", 12), ("朱", 11), ("胡", 10), ("郭", 10),
    ("何", 9), ("高", 9), ("林", 9), ("罗", 8), ("郑", 8), ("梁", 8), ("谢", 6), ("宋", 6),
    ("唐", 6), ("许", 5), ("韩", 5), ("冯", 5), ("邓", 5), ("曹", 5), ("彭", 5), ("曾", 4),
    ("肖", 4), ("田", 4), ("董", 4), ("袁", 4), ("潘", 4), ("于", 4), ("蒋", 4), ("蔡", 4),
    ("余", 4), ("杜", 4), ("叶", 4), ("程", 4), ("苏", 3), ("魏", 3), ("吕", 3), ("丁", 3),
    ("任", 3), ("沈", 3), ("姚", 3), ("卢", 3), ("姜", 3), ("崔", 3), ("钟", 3), ("谭", 3),
    ("陆", 3), ("汪", 3), ("范", 3), ("金", 3), ("石", 3), ("廖", 3), ("贾", 2), ("夏", 2),
    ("韦", 2), ("付", 2), ("方", 2), ("白", 2), ("邹", 2), ("孟", 2), ("熊", 2), ("秦", 2),
    ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("闫", 2), ("段", 2), ("雷", 2), ("侯", 2),
    ("龙", 2), ("史", 2), ("黎", 1), ("贺", 1), ("顾", 1), ("毛", 1), ("郝", 1), ("龚", 1),
    ("邵", 1), ("万", 1), ("钱", 1), ("武", 1), ("戴", 1), ("孔", 1), ("汤", 1), ("庞", 1),
    ("樊", 1), ("兰", 1), ("殷", 1), ("施", 1), ("陶", 1), ("洪", 1), ("翟", 1), ("安", 1),
    ("颜", 1), ("倪", 1), ("严", 1), ("牛", 1), ("温", 1), ("季", 1), ("俞", 1), ("章", 1),
    ("鲁", 1), ("葛", 1), ("伍", 1), ("聂", 1), ("齐", 1), ("庄", 1), ("纪", 1), ("费", 1),
    ("欧阳", 1), ("上官", 1), ("司马", 1),
)  # fmt: skip

GIVEN_FEMALE = (
    "芳娜敏静丽艳娟霞燕玲婷雪慧颖琳欣怡佳倩璐瑶晶莉萍红梅琴云洁蕾悦楠彤诗涵思雨梦雅晓丹妍薇琪岚月秀英兰凤菲露"
)
GIVEN_MALE = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林峰建志文博晨阳东亮成毅翔泽轩睿哲昊"

# Names shared by very many people: the namesakes OneID must keep apart.
COMMON_NAMES: tuple[tuple[str, int], ...] = (
    ("张伟", 1), ("王伟", 1), ("王芳", 2), ("李伟", 1), ("李娜", 2), ("张敏", 2), ("李静", 2),
    ("王静", 2), ("刘伟", 1), ("王秀英", 2), ("张丽", 2), ("李强", 1), ("王磊", 1), ("刘洋", 1),
    ("王艳", 2), ("李军", 1), ("张杰", 1), ("王丽", 2), ("李娟", 2), ("张静", 2), ("陈静", 2),
    ("刘芳", 2), ("陈伟", 1), ("杨洋", 1),
)  # fmt: skip

# Simplified → traditional for characters common in names and addresses (陈→陳).
_TRADITIONAL_PAIRS = (
    "陈陳 张張 刘劉 杨楊 黄黃 赵趙 吴吳 郑鄭 谢謝 许許 韩韓 冯馮 邓鄧 叶葉 苏蘇 吕呂 卢盧 钟鍾 "
    "谭譚 陆陸 贾賈 韦韋 邹鄒 闫閆 龙龍 贺賀 顾顧 龚龔 万萬 钱錢 汤湯 庞龐 兰蘭 严嚴 鲁魯 聂聶 "
    "齐齊 庄莊 纪紀 费費 马馬 伟偉 强強 军軍 杰傑 涛濤 辉輝 鹏鵬 华華 飞飛 宁寧 丽麗 艳艷 红紅 "
    "云雲 洁潔 颖穎 晓曉 静靜 凯凱 东東 刚剛 国國 荣榮 庆慶 凤鳳 爱愛 宝寶 贝貝 乐樂 长長 门門 "
    "广廣 区區 号號 楼樓 单單 园園 湾灣 厦廈 阳陽 桥橋 汉漢 县縣 镇鎮 乡鄉 层層 栋棟 馆館 岭嶺 "
    "滨濱 兴興 开開 银銀 铁鐵 师師 学學 实實 娇嬌 梦夢 岚嵐 尧堯 诗詩 丝絲 乔喬 车車 "
    "宾賓 泽澤 轩軒 缘緣 娅婭 莲蓮 义義 礼禮 达達 贤賢 浅淺 间間 际際 场場"
)
TRADITIONAL = str.maketrans({pair[0]: pair[1] for pair in _TRADITIONAL_PAIRS.split()})

# Near-homophones a buyer, a clerk or an input method picks by mistake (静→婧).
HOMOPHONES: dict[str, str] = {
    "伟": "玮炜维", "静": "婧靖晶", "芳": "方舫", "娜": "纳", "敏": "民闵", "丽": "莉俪立",
    "婷": "亭庭", "杰": "洁捷", "军": "君钧", "磊": "蕾垒", "洋": "阳扬", "艳": "燕彦",
    "娟": "鹃涓", "霞": "侠", "燕": "艳雁", "玲": "琳灵", "红": "虹宏", "梅": "玫媚",
    "琴": "芹勤", "云": "芸韵", "洁": "杰婕", "颖": "影莹", "晓": "小筱", "鹏": "朋彭",
    "辉": "晖徽", "涛": "韬滔", "勇": "永咏", "超": "潮", "平": "萍苹", "明": "铭鸣",
    "华": "桦骅", "飞": "菲斐", "波": "博", "斌": "彬滨", "宇": "雨羽禹", "浩": "昊皓",
    "凯": "恺锴", "健": "建剑", "俊": "峻骏", "帆": "凡", "旭": "煦", "宁": "凝",
    "林": "琳霖", "峰": "锋枫", "志": "智治", "文": "雯闻", "博": "波", "晨": "辰宸",
    "阳": "洋扬", "东": "冬", "成": "诚承", "欣": "心馨昕", "怡": "仪宜", "佳": "嘉家",
    "倩": "茜芊", "璐": "露路", "瑶": "遥", "晶": "静菁", "莉": "丽俐", "萍": "平苹",
    "蕾": "磊雷", "悦": "越玥", "楠": "男南", "彤": "桐童", "涵": "含晗", "思": "斯丝",
    "雨": "宇语", "梦": "蒙", "雅": "亚娅", "丹": "单", "妍": "研", "薇": "微维",
    "琪": "琦祺", "慧": "惠蕙", "雪": "学", "秀": "绣", "英": "瑛莹", "兰": "岚",
    "张": "章", "刘": "柳", "徐": "许", "吴": "伍", "李": "黎", "黄": "王",
}  # fmt: skip

NICKNAME_PREFIXES = (
    "快乐的", "爱吃", "安静的", "不吃香菜的", "熬夜的", "追光的", "奔跑的", "温柔的", "会飞的",
    "努力的", "佛系", "元气", "想睡觉的", "迷路的",
)  # fmt: skip
NICKNAME_NOUNS = (
    "小鱼", "猫咪", "兔子", "草莓", "柠檬", "芒果", "布丁", "奶茶", "星星", "月亮", "向日葵",
    "棉花糖", "小熊", "橘子", "椰子", "小鹿", "海豚", "蜗牛", "西瓜", "饭团",
)  # fmt: skip
ENGLISH_FEMALE = (
    "Amy",
    "Lily",
    "Coco",
    "Jenny",
    "Cindy",
    "Vivian",
    "Grace",
    "Cherry",
    "Momo",
    "Nina",
    "Zoe",
    "Ivy",
    "Echo",
)
ENGLISH_MALE = ("Kevin", "Tony", "Jack", "Eric", "Leo", "Sunny", "Lucky", "Allen", "Jason", "Peter")
BABY_NICKNAMES = (
    "果果",
    "朵朵",
    "乐乐",
    "豆豆",
    "糖糖",
    "安安",
    "嘟嘟",
    "球球",
    "米粒",
    "小宝",
    "悠悠",
    "团团",
)
NICKNAME_DECORATIONS = ("", "", "", "", "🌸", "✨", "🍀", "~", "🐱")

# Shop staff (导购/客服): name and the WeCom userid an admin would give them.
STAFF: tuple[tuple[str, str, int], ...] = (
    ("王丽娟", "WangLiJuan", 2), ("陈静", "ChenJing", 2), ("李晓燕", "LiXiaoYan", 2),
    ("张婷", "ZhangTing", 2), ("刘佳", "LiuJia", 2), ("杨雪", "YangXue", 2), ("赵敏", "ZhaoMin", 2),
    ("黄丽", "HuangLi", 2), ("周倩", "ZhouQian", 2), ("吴芳", "WuFang", 2), ("徐静怡", "XuJingYi", 2),
    ("孙悦", "SunYue", 2), ("马丽", "MaLi", 2), ("朱琳", "ZhuLin", 2), ("胡婷婷", "HuTingTing", 2),
    ("郭佳怡", "GuoJiaYi", 2), ("何欣", "HeXin", 2), ("高洁", "GaoJie", 2), ("林晓", "LinXiao", 2),
    ("罗丹", "LuoDan", 2), ("郑雅", "ZhengYa", 2), ("梁思琪", "LiangSiQi", 2), ("谢颖", "XieYing", 2),
    ("宋佳", "SongJia", 2), ("唐璐", "TangLu", 2), ("许晨", "XuChen", 1), ("韩磊", "HanLei", 1),
    ("冯涛", "FengTao", 1), ("邓超", "DengChao", 1), ("曹阳", "CaoYang", 1),
)  # fmt: skip


def traditional(text: str) -> str:
    return text.translate(TRADITIONAL)


def has_traditional_form(text: str) -> bool:
    return traditional(text) != text


def homophone_typo(name: str, pick: float) -> str:
    """Replace one character of `name` (given name first) with a near-homophone; `pick` in [0, 1)."""
    positions = [i for i in range(len(name) - 1, -1, -1) if name[i] in HOMOPHONES]
    if not positions:
        return name
    # Mostly the given name: surname typos are rarer in practice.
    index = positions[0] if pick < 0.8 or len(positions) == 1 else positions[-1]
    choices = HOMOPHONES[name[index]]
    replacement = choices[int(pick * 997) % len(choices)]
    return name[:index] + replacement + name[index + 1 :]
