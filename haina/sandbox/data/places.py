"""Provinces, cities, districts, roads and housing estates, and the ways one address gets written."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class City:
    province: str
    city: str
    weight: int  # rough share of online buyers
    longitude: float
    latitude: float
    districts: tuple[str, ...]
    roads: tuple[str, ...]  # local roads; generic ones are added for cities without a list
    uses_lanes: bool = False  # Shanghai writes "X路123弄4号"


CITIES: tuple[City, ...] = (
    City("上海市", "上海市", 110, 121.47, 31.23,
         ("黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区", "嘉定区", "浦东新区", "松江区", "青浦区"),
         ("南京西路", "淮海中路", "漕溪北路", "延安西路", "四川北路", "张杨路", "世纪大道", "虹桥路", "天山路", "中山北路", "吴中路", "沪闵路", "长宁路", "曹杨路", "控江路"),
         uses_lanes=True),
    City("北京市", "北京市", 95, 116.40, 39.90,
         ("东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "通州区", "昌平区", "大兴区", "顺义区"),
         ("建国路", "朝阳北路", "中关村大街", "学院路", "西直门外大街", "望京街", "东三环中路", "北四环西路", "广安门内大街", "双井路")),
    City("广东省", "广州市", 60, 113.26, 23.13,
         ("天河区", "越秀区", "海珠区", "荔湾区", "白云区", "番禺区"),
         ("天河路", "体育西路", "中山五路", "江南大道中", "广州大道北", "黄埔大道西", "东风东路")),
    City("广东省", "深圳市", 65, 114.06, 22.54,
         ("福田区", "罗湖区", "南山区", "宝安区", "龙岗区", "龙华区"),
         ("深南大道", "华强北路", "科技园路", "宝安大道", "龙岗大道", "南海大道", "福华路")),
    City("浙江省", "杭州市", 70, 120.16, 30.27,
         ("上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区"),
         ("文三路", "延安路", "庆春路", "滨盛路", "江南大道", "莫干山路", "文一西路", "钱江路")),
    City("浙江省", "宁波市", 22, 121.55, 29.87, ("海曙区", "江北区", "鄞州区"), ()),
    City("江苏省", "南京市", 40, 118.80, 32.06,
         ("玄武区", "秦淮区", "鼓楼区", "建邺区", "江宁区"),
         ("中山路", "汉中路", "江东中路", "龙蟠路", "双龙大道", "湖南路")),
    City("江苏省", "苏州市", 38, 120.58, 31.30,
         ("姑苏区", "吴中区", "相城区", "虎丘区", "苏州工业园区"),
         ("干将路", "人民路", "星湖街", "现代大道", "东吴北路")),
    City("江苏省", "无锡市", 15, 120.31, 31.49, ("梁溪区", "滨湖区", "新吴区"), ()),
    City("四川省", "成都市", 45, 104.07, 30.57,
         ("锦江区", "青羊区", "金牛区", "武侯区", "成华区", "双流区"),
         ("春熙路", "人民南路", "天府大道", "蜀都大道", "一环路南三段", "红星路")),
    City("湖北省", "武汉市", 35, 114.31, 30.59,
         ("江岸区", "江汉区", "武昌区", "洪山区"), ("解放大道", "中南路", "珞喻路", "武珞路", "建设大道")),
    City("湖南省", "长沙市", 25, 112.94, 28.23, ("芙蓉区", "天心区", "岳麓区", "开福区", "雨花区"), ("五一大道", "芙蓉中路", "韶山北路")),
    City("山东省", "济南市", 15, 117.12, 36.65, ("历下区", "市中区", "槐荫区"), ()),
    City("山东省", "青岛市", 22, 120.38, 36.07, ("市南区", "市北区", "崂山区", "黄岛区"), ("香港中路", "山东路", "辽阳西路")),
    City("福建省", "福州市", 14, 119.30, 26.08, ("鼓楼区", "台江区", "仓山区"), ()),
    City("福建省", "厦门市", 16, 118.09, 24.48, ("思明区", "湖里区", "集美区"), ("厦禾路", "湖滨南路", "嘉禾路")),
    City("河南省", "郑州市", 22, 113.63, 34.75, ("金水区", "二七区", "中原区", "管城回族区"), ("花园路", "农业路", "中原路")),
    City("陕西省", "西安市", 22, 108.94, 34.34, ("雁塔区", "碑林区", "未央区", "莲湖区"), ("长安南路", "小寨东路", "科技路")),
    City("天津市", "天津市", 20, 117.20, 39.08, ("和平区", "南开区", "河西区", "河东区"), ("南京路", "卫津路", "友谊路")),
    City("重庆市", "重庆市", 28, 106.55, 29.56, ("渝中区", "江北区", "渝北区", "南岸区"), ("解放碑", "观音桥步行街", "金开大道")),
    City("安徽省", "合肥市", 16, 117.23, 31.82, ("蜀山区", "包河区", "庐阳区", "瑶海区"), ()),
    City("辽宁省", "沈阳市", 12, 123.43, 41.81, ("和平区", "沈河区", "皇姑区"), ()),
    City("辽宁省", "大连市", 10, 121.61, 38.91, ("中山区", "沙河口区", "甘井子区"), ()),
    City("云南省", "昆明市", 10, 102.83, 24.88, ("五华区", "盘龙区", "官渡区"), ()),
    City("广西壮族自治区", "南宁市", 9, 108.37, 22.82, ("青秀区", "兴宁区", "西乡塘区"), ()),
    City("河北省", "石家庄市", 10, 114.51, 38.04, ("长安区", "桥西区", "裕华区"), ()),
    City("黑龙江省", "哈尔滨市", 9, 126.53, 45.80, ("南岗区", "道里区", "香坊区"), ()),
)  # fmt: skip

GENERIC_ROADS = (
    "人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "胜利路", "文化路", "青年路", "长江路",
    "黄河路", "朝阳路", "光明路", "幸福路", "东风路", "迎宾大道", "学府路", "科技路", "创业路", "滨江大道",
)  # fmt: skip

# Housing estates and the short name residents write (brand prefix or 花园/苑 dropped).
ESTATE_NAMES: tuple[tuple[str, str], ...] = (
    ("阳光花园", "阳光"), ("金色家园", "金色"), ("翠湖苑", "翠湖"), ("锦绣华庭", "锦绣"),
    ("碧水湾", "碧水湾"), ("万象城", "万象"), ("世纪新城", "世纪"), ("中海国际社区", "中海国际"),
    ("保利香槟苑", "保利香槟"), ("华润橡树湾", "橡树湾"), ("融创壹号院", "壹号院"), ("龙湖春江郦城", "春江郦城"),
    ("恒大名都", "恒大"), ("金地格林小城", "格林小城"), ("世茂滨江花园", "世茂滨江"), ("幸福里", "幸福里"),
    ("和谐家园", "和谐"), ("紫荆苑", "紫荆"), ("梧桐苑", "梧桐"), ("星河湾", "星河湾"),
    ("东方明珠花园", "明珠花园"), ("绿城桂花园", "桂花园"), ("新城国际", "新城"), ("御景华府", "御景"),
    ("水岸名都", "水岸"),
)  # fmt: skip
ESTATES = tuple(full for full, _ in ESTATE_NAMES)
_ESTATE_SHORT = dict(ESTATE_NAMES)

OFFICES = (
    "国贸大厦", "环球金融中心", "万达广场", "华润大厦", "世纪中心", "财富广场", "科技园A座", "创意产业园",
    "中心大厦", "时代广场", "软件园二期", "金融港",
)  # fmt: skip

CHINESE_DIGITS = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十")

PROVINCE_SHORT = {"广西壮族自治区": "广西", "黑龙江省": "黑龙江"}


def short_province(province: str) -> str:
    return PROVINCE_SHORT.get(province) or province.removesuffix("省").removesuffix("市")


def short_city(city: str) -> str:
    return city.removesuffix("市")


def chinese_number(number: int) -> str:
    """1–99 in Chinese numerals, the way people write building numbers (十二, 二十三)."""
    tens, ones = divmod(number, 10)
    if tens == 0:
        return CHINESE_DIGITS[ones]
    prefix = "" if tens == 1 else CHINESE_DIGITS[tens]
    return prefix + "十" + (CHINESE_DIGITS[ones] if ones else "")


@dataclass(frozen=True, slots=True)
class StreetParts:
    """The pieces of one home address, so each platform can write it its own way."""

    road: str
    number: int
    estate: str
    building: int
    unit: int
    room: int
    uses_lanes: bool

    def canonical(self) -> str:
        if self.uses_lanes:
            return f"{self.road}{self.number}弄{self.building}号{self.room}室"
        return f"{self.road}{self.number}号{self.estate}{self.building}号楼{self.unit}单元{self.room}室"

    def variant(self, style: int) -> str:
        """Another way the same person types this address; `style` picks one (0 is canonical)."""
        if style == 1:  # dashes instead of 号楼/单元/室
            return f"{self.road}{self.number}号{self.estate}{self.building}-{self.unit}-{self.room}"
        if style == 2:  # estate only, no road
            return f"{self.estate}{self.building}幢{self.unit}单元{self.room}"
        if style == 3:  # building in Chinese numerals, 栋 for 号楼
            return f"{self.road}{self.number}号{self.estate}{chinese_number(self.building)}栋{self.room}室"
        if style == 4:  # spaces between parts, as typed on a phone
            return f"{self.road} {self.number}号 {self.estate} {self.building}栋{self.unit}单元 {self.room}"
        if style == 5 and self.uses_lanes:  # lane written as a house number
            return f"{self.road}{self.number}弄{self.building}号{self.room}"
        if style == 6:  # the estate abbreviated the way neighbours say it (阳光花园 → 阳光)
            return f"{self.road}{self.number}号{abbreviate_estate(self.estate)}{self.building}-{self.room}"
        return self.canonical()


STREET_STYLES = 7


def abbreviate_estate(estate: str) -> str:
    return _ESTATE_SHORT.get(estate, estate)
