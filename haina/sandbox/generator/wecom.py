"""WeCom: external contacts with their follow users, tags, customer groups and archived chats."""

from __future__ import annotations

import json
import random
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate

from haina.sandbox.data import catalog, chats, names
from haina.sandbox.generator.ids import BASE62, URLSAFE, Tokens, pick
from haina.sandbox.generator.people import PERSONAS, Draft
from haina.sandbox.generator.season import DAY, HOUR, SeasonCalendar, to_datetime
from haina.sandbox.generator.setup import Setup
from haina.sandbox.world import (
    ChatMessage,
    ExternalContact,
    FollowUser,
    GroupChat,
    GroupMember,
    Order,
    Refund,
    Staff,
)

_CHANNEL_CUMULATIVE = list(accumulate(channel[3] for channel in catalog.CHANNELS))
_HOURS_DEFAULT: list[float] = list(accumulate(chats.HOURS_DEFAULT))
_HOURS_EVENING: list[float] = list(accumulate(chats.HOURS_EVENING))
_STORE_STATES = {"store_sh01", "store_sh02", "store_hz01"}


@dataclass(slots=True)
class History:
    """What happened to a person, for choosing what they talk about."""

    orders: list[Order] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)


@dataclass(slots=True)
class OpenGroup:
    group: GroupChat
    category: str
    capacity: int


class WeComMaker:
    def __init__(
        self, setup: Setup, tokens: Tokens, calendar: SeasonCalendar, seed: int | str, origin: int = 0
    ) -> None:
        self.setup = setup
        self.tokens = tokens
        self.calendar = calendar
        self.rng = random.Random(f"{seed}/contacts")
        self.chat_rng = random.Random(f"{seed}/chats")
        self.group_rng = random.Random(f"{seed}/groups")
        self.end = calendar.end
        self.contact_counter = origin
        self.group_counter = origin
        self.message_counter = origin
        self.seq = 0
        self.open_groups: dict[str, OpenGroup] = {}
        self.group_numbers: dict[str, int] = {}
        self.online_staff = setup.staff_by_department.get(1) or setup.staff

    # --- contacts -------------------------------------------------------------------------

    def wants_contact(self, draft: Draft, platforms: list[str], order_count: int) -> bool:
        if not platforms:
            return True  # WeCom-only leads: the reason they are in the world at all
        chance = 0.3
        if "youzan" in platforms:
            chance += 0.35
        if "pos" in platforms:
            chance += 0.4
        if order_count >= 4:
            chance += 0.15
        return self.rng.random() < chance

    def contact(self, draft: Draft, history: History, shop_ids: list[str]) -> ExternalContact:
        rng = self.rng
        setup = self.setup
        self.contact_counter += 1
        external_userid = (
            "wm" + setup.corp_part + self.tokens.text("external_userid", self.contact_counter, 22, URLSAFE)
        )
        state, add_way, source = self._channel(shop_ids)
        created = self._added_at(state, history)
        staff = self._staff_for(state)
        person = draft.person
        roll = rng.random()
        if roll < 0.55:
            name = draft.handle
        elif roll < 0.75:
            name = person.name
        elif roll < 0.85 and names.has_traditional_form(person.name):
            name = names.traditional(person.name)
        else:
            name = draft.english
        tag_ids = self._tags(draft, history, source)
        follow = FollowUser(
            userid=staff.userid,
            remark=self._remark(draft, staff, state),
            description=self._description(draft, history),
            createtime=to_datetime(created),
            tag_ids=tag_ids,
            remark_mobiles=self._remark_mobiles(draft),
            add_way=add_way,
            state=state,
            oper_userid=staff.userid if add_way == 2 else external_userid,
        )
        follow_users = [follow]
        if rng.random() < 0.12 and len(setup.staff) > 1:
            # Shared with, or reassigned to, a second guide.
            other = pick(rng, [member for member in setup.staff if member.userid != staff.userid])
            shared = created + int(rng.uniform(HOUR, 60 * DAY))
            if shared < self.end:
                follow_users.append(
                    FollowUser(
                        userid=other.userid,
                        remark=follow.remark if rng.random() < 0.5 else draft.title,
                        description="",
                        createtime=to_datetime(shared),
                        tag_ids=tag_ids[:1],
                        remark_mobiles=follow.remark_mobiles[:1],
                        add_way=pick(rng, (201, 202)),
                        state="",
                        oper_userid=staff.userid,
                    )
                )
        return ExternalContact(
            external_userid=external_userid,
            person_id=person.person_id,
            name=name,
            type=2 if rng.random() < 0.02 else 1,
            gender=0 if rng.random() < 0.1 else person.gender,
            unionid=draft.unionid,
            avatar=f"http://wx.qlogo.cn/mmhead/{self.tokens.text('avatar', self.contact_counter, 40, BASE62)}/0",
            follow_users=follow_users,
            created_at=to_datetime(created),
        )

    def _channel(self, shop_ids: list[str]) -> tuple[str, int, str]:
        rng = self.rng
        for shop_id in shop_ids:
            if shop_id in _STORE_STATES and rng.random() < 0.7:
                return shop_id, 1, "门店"  # scanned the counter's channel code
        while True:
            state, add_way, source, _ = catalog.CHANNELS[
                bisect(_CHANNEL_CUMULATIVE, rng.random() * _CHANNEL_CUMULATIVE[-1])
            ]
            if state not in _STORE_STATES or state in shop_ids:
                return state, add_way, source

    def _added_at(self, state: str, history: History) -> int:
        rng = self.rng
        end = self.end
        if state == "pack_card" and history.orders:
            first = history.orders[0].shipped_at or history.orders[0].created_at
            moment = int(first.timestamp()) + int(rng.uniform(2, 7) * DAY)  # the card came in the parcel
        elif state in _STORE_STATES and history.orders:
            pos = [order for order in history.orders if order.shop_id == state]
            moment = int((pos[0] if pos else history.orders[0]).created_at.timestamp()) + int(
                rng.uniform(60, 900)
            )
        elif state.startswith("live_"):
            season = "618" if state == "live_0618" else "1111"
            moment = self.calendar.sample(rng)
            for _ in range(20):  # a live room viewer joins during the festival
                if self.calendar.season(moment) == season:
                    break
                moment = self.calendar.sample(rng)
        else:
            moment = end - int(rng.random() * 365 * DAY)
        return min(moment, end - 60)

    def _staff_for(self, state: str) -> Staff:
        department = catalog.STORE_DEPARTMENTS.get(state)
        pool = self.setup.staff_by_department.get(department, []) if department else self.online_staff
        return pick(self.rng, pool or self.setup.staff)

    def _remark(self, draft: Draft, staff: Staff, state: str) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return draft.person.name
        if roll < 0.5:
            return draft.title
        if roll < 0.65:
            store = {"store_sh01": "南京西路店", "store_sh02": "徐汇店", "store_hz01": "湖滨店"}.get(
                state, "线上"
            )
            return f"{draft.person.name}-{store}"
        if roll < 0.75:
            return f"{draft.surname}姐" if draft.person.gender == 2 else f"{draft.surname}哥"
        if roll < 0.85:
            return names.homophone_typo(draft.person.name, rng.random())  # typed in a hurry
        return ""

    def _description(self, draft: Draft, history: History) -> str:
        if draft.baby_birth is not None:
            months = max(0, (self.end - draft.baby_birth) // (30 * DAY))
            return f"宝宝{months}个月" if months else "孕期"
        if draft.skin:
            return draft.skin
        if any(order.lines[0].outer_sku.startswith("JB-RB") for order in history.orders):
            return "扫地机用户"
        return ""

    def _remark_mobiles(self, draft: Draft) -> list[str]:
        roll = self.rng.random()
        if roll < 0.5:
            return [draft.person.phone]
        if roll < 0.65 and draft.phone2:
            return [draft.person.phone, draft.phone2]
        if roll < 0.72 and draft.phone2:
            return [draft.phone2]
        return []

    def _tags(self, draft: Draft, history: History, source: str) -> list[str]:
        setup = self.setup
        tags = []
        count = len(history.orders)
        level = "VIP" if count >= 6 else "老客" if count >= 2 else "新客" if count == 1 else "潜在客户"
        tags.append(setup.tag("客户等级", level))
        if source:
            tags.append(setup.tag("来源渠道", source))
        if draft.skin and draft.persona in ("beauty", "mixed"):
            tags.append(setup.tag("肤质", draft.skin))
        if draft.baby_birth is not None:
            months = (self.end - draft.baby_birth) // (30 * DAY)
            stage = "孕期" if months < 0 else "0-6月" if months < 6 else "6-12月" if months < 12 else "1-3岁"
            tags.append(setup.tag("宝宝月龄", stage))
        interest = {"beauty": "护肤", "mother": "母婴", "home": "家电", "snacker": "零食"}.get(draft.persona)
        if interest:
            tags.append(setup.tag("兴趣品类", interest))
        if history.refunds:
            tags.append(setup.tag("售后", "已退款"))
            if any(refund.reason == catalog.REFUND_REASON_ALLERGY for refund in history.refunds):
                tags.append(setup.tag("售后", "过敏反馈"))
        return [tag for tag in tags if tag]

    # --- chats ----------------------------------------------------------------------------

    def conversations(self, draft: Draft, contact: ExternalContact, history: History) -> list[ChatMessage]:
        """1:1 chats between the contact and their first guide, anchored on real events."""
        rng = self.chat_rng
        added = int((contact.created_at or self.setup.start).timestamp())
        staff = self.setup.staff_by_userid[contact.follow_users[0].userid]
        # (start, script, hour weights to reshape the start with, or None to keep it)
        plans: list[tuple[int, chats.Script, list[float] | None]] = []
        if rng.random() < 0.45:
            plans.append((added + int(rng.uniform(5, 90)), pick(rng, chats.WELCOME), None))
        for refund in history.refunds:
            if rng.random() < 0.7:
                allergy = refund.reason == catalog.REFUND_REASON_ALLERGY
                pool = chats.COMPLAINT_ALLERGY if allergy else pick(rng, (chats.COMPLAINT, chats.REFUND))
                moment = int(refund.created_at.timestamp()) - int(rng.uniform(HOUR, DAY))
                plans.append((moment, pick(rng, pool), _HOURS_EVENING if allergy else _HOURS_DEFAULT))
        for order in history.orders:
            roll = rng.random()
            created = int(order.created_at.timestamp())
            category = self.setup.items[order.lines[0].sku_id].category
            if roll < 0.12:
                plans.append(
                    (
                        created - int(rng.uniform(HOUR, 2 * DAY)),
                        pick(rng, chats.PRESALE[category]),
                        _HOURS_DEFAULT,
                    )
                )
            elif roll < 0.25 and order.shipped_at is not None:
                plans.append(
                    (
                        int(order.shipped_at.timestamp()) + int(rng.uniform(DAY, 3 * DAY)),
                        pick(rng, chats.LOGISTICS),
                        _HOURS_DEFAULT,
                    )
                )
            elif roll < 0.3 and order.finished_at is not None and order.status == "completed":
                plans.append(
                    (
                        int(order.finished_at.timestamp()) + int(rng.uniform(HOUR, 5 * DAY)),
                        pick(rng, chats.PRAISE),
                        _HOURS_DEFAULT,
                    )
                )
            elif roll < 0.36 and order.lines[0].outer_sku.startswith("JB-WP"):
                plans.append(
                    (created + int(rng.uniform(DAY, 3 * DAY)), pick(rng, chats.INSTALL), _HOURS_DEFAULT)
                )
            elif roll < 0.4 and order.lines[0].outer_sku.startswith(("JB-RB", "JB-WP")):
                plans.append(
                    (created + int(rng.uniform(60, 120) * DAY), pick(rng, chats.CONSUMABLE), _HOURS_DEFAULT)
                )
        if not history.orders and rng.random() < 0.4:
            category = catalog.CATEGORIES[max(range(4), key=lambda index: PERSONAS[draft.persona][index])]
            plans.append(
                (added + int(rng.uniform(HOUR, 30 * DAY)), pick(rng, chats.PRESALE[category]), _HOURS_DEFAULT)
            )
        messages: list[ChatMessage] = []
        timed = []
        for moment, script, hours in plans[:6]:
            if hours is not None:
                if moment < added:
                    moment = added + int(rng.uniform(60, 3 * DAY))
                # People write when they are awake; allergy worries come in the evening.
                moment = max(added + 60, self.calendar.at_hour(moment, hours, rng))
            if moment < self.end - HOUR:
                timed.append((moment, script))
        timed.sort(key=lambda plan: plan[0])
        played: list[chats.Script] = []
        for moment, script in timed:
            if script in played:
                continue  # nobody asks the same question twice in the same words
            played.append(script)
            messages.extend(self._play(script, moment, contact, staff, history, draft))
        return messages

    def _play(
        self,
        script: chats.Script,
        moment: int,
        contact: ExternalContact,
        staff: Staff,
        history: History,
        draft: Draft,
    ) -> list[ChatMessage]:
        rng = self.chat_rng
        customer = contact.external_userid
        order = history.orders[-1] if history.orders else None
        values = {
            "product": order.lines[0].title.split(" ", 1)[-1] if order else "精华液",
            "title": draft.title,
            "staff": staff.name,
            "city": draft.person.city.removesuffix("市"),
            "days": str(2 + int(rng.random() * 5)),
            "tail": order.order_id[-4:] if order else "0000",
        }
        milliseconds = moment * 1000 + int(rng.random() * 1000)
        messages = []
        previous = ""
        for speaker, text in script:
            sender, receiver = (customer, staff.userid) if speaker == "c" else (staff.userid, customer)
            if text == "[图片]":
                msgtype, content = "image", self._media(rng)
            elif speaker == "c" and rng.random() < 0.04 and "投诉" not in text and "过敏" not in text:
                msgtype, content = "voice", self._voice(rng)  # keyword lines stay text so alerts can fire
            else:
                msgtype, content = "text", {"content": text.format(**values)}
            messages.append(self._message(sender, [receiver], "", milliseconds, msgtype, content))
            previous = messages[-1].msgid
            if speaker == "s" and rng.random() < 0.03:
                # The guide recalls a message sent by mistake and sends it again.
                milliseconds += int(rng.uniform(5, 90) * 1000)
                messages.append(
                    self._message(
                        sender, [receiver], "", milliseconds, "revoke", {"pre_msgid": previous}, "recall"
                    )
                )
            milliseconds += int(rng.uniform(20, 600 if speaker == "c" else 300) * 1000)
        extra = rng.random()
        if extra < 0.06:
            messages.append(
                self._message(customer, [staff.userid], "", milliseconds, "emotion", self._emotion(rng))
            )
        elif extra < 0.08:
            # A photo of the parcel, the product or the skin: what customers send most after text.
            messages.append(
                self._message(customer, [staff.userid], "", milliseconds, "image", self._media(rng))
            )
        elif extra < 0.10:
            title, description = pick(rng, chats.STAFF_LINKS)
            link = {
                "title": title,
                "description": description,
                "link_url": f"https://m.{self.setup.merchant.corp_id[2:8]}.example.cn/p/{int(rng.random() * 10**6)}",
                "image_url": f"https://img.example.cn/{int(rng.random() * 10**8):08d}.jpg",
            }
            messages.append(self._message(staff.userid, [customer], "", milliseconds, "link", link))
        elif extra < 0.12:
            filename, extension = pick(rng, chats.STAFF_FILES)
            file = self._media(rng) | {"filename": filename, "fileext": extension}
            messages.append(self._message(staff.userid, [customer], "", milliseconds, "file", file))
        elif extra < 0.13:
            weapp = {
                "title": "悦享会员中心",
                "description": "积分兑换、领券",
                "username": "gh_" + f"{int(rng.random() * 16**12):012x}@app",
                "displayname": self.setup.merchant.merchant_name,
            }
            messages.append(self._message(staff.userid, [customer], "", milliseconds, "weapp", weapp))
        elif extra < 0.14:
            colleague = pick(rng, self.setup.staff)
            card = {"corpname": self.setup.merchant.merchant_name, "userid": colleague.userid}
            messages.append(self._message(staff.userid, [customer], "", milliseconds, "card", card))
        elif extra < 0.15:
            location = {
                "longitude": round(draft.city.longitude + rng.uniform(-0.1, 0.1), 6),
                "latitude": round(draft.city.latitude + rng.uniform(-0.1, 0.1), 6),
                "address": draft.person.city + draft.person.district + draft.person.street,
                "title": draft.parts.estate,
                "zoom": 15,
            }
            messages.append(self._message(customer, [staff.userid], "", milliseconds, "location", location))
        elif extra < 0.16:
            photo = {"type": "image", "content": json.dumps(self._media(rng))}
            said = pick(rng, chats.CUSTOMER_PHOTO_LINES)
            line = {"type": "text", "content": json.dumps({"content": said}, ensure_ascii=False)}
            mixed = {"item": [line, photo]}
            messages.append(self._message(customer, [staff.userid], "", milliseconds, "mixed", mixed))
        elif extra < 0.165 and len(self.setup.staff) > 1:
            said = next((text.format(**values) for speaker, text in script if speaker == "c"), "")
            record = {
                "title": pick(rng, chats.FORWARDED_RECORD_TITLES),
                "item": [
                    {"type": "ChatRecordText", "msgtime": milliseconds // 1000, "from_chatroom": False,
                     "content": json.dumps({"content": said or "麻烦帮忙看下这个客户的问题"}, ensure_ascii=False)},
                    {"type": "ChatRecordImage", "msgtime": milliseconds // 1000, "from_chatroom": False,
                     "content": json.dumps(self._media(rng))},
                ],
            }  # fmt: skip
            colleague = pick(rng, [member for member in self.setup.staff if member.userid != staff.userid])
            messages.append(
                self._message(staff.userid, [colleague.userid], "", milliseconds, "chatrecord", record)
            )
        return [message for message in messages if message.msgtime.timestamp() < self.end]

    def live_chat(
        self, contact: ExternalContact, staff: Staff, moment: int, script: chats.Script
    ) -> list[ChatMessage]:
        """A short text chat happening now, for the live ticker (no order history needed)."""
        rng = self.chat_rng
        customer = contact.external_userid
        values = {
            "product": "精华液",
            "title": contact.name,
            "staff": staff.name,
            "city": "本地",
            "days": "3",
            "tail": customer[-4:],
        }
        milliseconds = moment * 1000
        messages = []
        for speaker, text in script:
            sender, receiver = (customer, staff.userid) if speaker == "c" else (staff.userid, customer)
            if text == "[图片]":
                msgtype, content = "image", self._media(rng)
            else:
                msgtype, content = "text", {"content": text.format(**values)}
            messages.append(self._message(sender, [receiver], "", milliseconds, msgtype, content))
            milliseconds += 1  # keep the order of a burst visible when the clock stands still
        return messages

    def _message(
        self,
        sender: str,
        tolist: list[str],
        roomid: str,
        milliseconds: int,
        msgtype: str,
        content: dict,
        action: str = "send",
    ) -> ChatMessage:
        self.message_counter += 1
        self.seq += 1
        msgid = f"{self.tokens.number('msgid', self.message_counter, 19)}_{milliseconds // 1000}"
        return ChatMessage(
            seq=self.seq,
            msgid=msgid,
            action=action,
            sender=sender,
            tolist=tolist,
            roomid=roomid,
            msgtime=to_datetime(milliseconds / 1000),
            msgtype=msgtype,
            content=content,
        )

    def _media(self, rng: random.Random) -> dict:
        return {
            "md5sum": f"{rng.getrandbits(128):032x}",
            "filesize": 20_000 + int(rng.random() * 2_000_000),
            "sdkfileid": self.tokens.text("sdkfileid", self.message_counter + 1, 64, BASE62),
        }

    def _voice(self, rng: random.Random) -> dict:
        return {
            "md5sum": f"{rng.getrandbits(128):032x}",
            "voice_size": 3_000 + int(rng.random() * 40_000),
            "play_length": 2 + int(rng.random() * 40),
            "sdkfileid": self.tokens.text("sdkfileid", self.message_counter + 1, 64, BASE62),
        }

    def _emotion(self, rng: random.Random) -> dict:
        return {
            "type": 1 if rng.random() < 0.6 else 2,
            "width": 240,
            "height": 240,
            "imagesize": 5_000 + int(rng.random() * 60_000),
            "md5sum": f"{rng.getrandbits(128):032x}",
            "sdkfileid": self.tokens.text("sdkfileid", self.message_counter + 1, 64, BASE62),
        }

    # --- customer groups ---------------------------------------------------------------------

    def join_group(self, draft: Draft, contact: ExternalContact) -> list[tuple[str, object]]:
        """Maybe add the contact to a themed group; returns records of any group that filled up."""
        rng = self.group_rng
        if rng.random() >= 0.4:
            return []
        weights = PERSONAS[draft.persona]
        category = catalog.CATEGORIES[max(range(4), key=lambda index: (weights[index], -index))]
        open_group = self.open_groups.get(category)
        if open_group is None:
            open_group = self._open(category)
        group = open_group.group
        added = contact.created_at or group.create_time
        joined = max(int(group.create_time.timestamp()), int(added.timestamp())) + int(
            rng.uniform(60, 3 * DAY)
        )
        scene = pick(rng, (1, 2, 3))
        group.members.append(
            GroupMember(
                userid=contact.external_userid,
                type=2,
                join_time=to_datetime(min(joined, self.end - 60)),
                join_scene=scene,
                invitor=group.owner if scene != 3 else "",
                unionid=contact.unionid,
            )
        )
        if len(group.members) >= open_group.capacity:
            del self.open_groups[category]
            return self._close(open_group)
        return []

    def _open(self, category: str) -> OpenGroup:
        rng = self.group_rng
        self.group_counter += 1
        owner = pick(rng, self.online_staff)
        admin = pick(rng, self.setup.staff)
        created = self.end - int(rng.uniform(200, 365) * DAY)
        pattern = next(name for name, theme in catalog.GROUP_THEMES if theme == category)
        number = self.group_numbers.get(category, 0) + 1
        self.group_numbers[category] = number
        members = [GroupMember(userid=owner.userid, type=1, join_time=to_datetime(created), join_scene=1)]
        if admin.userid != owner.userid:
            members.append(
                GroupMember(
                    userid=admin.userid,
                    type=1,
                    join_time=to_datetime(created + 600),
                    join_scene=1,
                    invitor=owner.userid,
                )
            )
        group = GroupChat(
            chat_id="wr"
            + self.setup.corp_part
            + self.tokens.text("chat_id", self.group_counter, 22, URLSAFE),
            name=pattern.format(merchant=self.setup.merchant.merchant_name, n=number),
            owner=owner.userid,
            create_time=to_datetime(created),
            notice=catalog.GROUP_NOTICES[category],
            members=members,
            admin_list=[admin.userid] if admin.userid != owner.userid else [],
        )
        group_open = OpenGroup(group, category, capacity=int(rng.uniform(60, 200)))
        self.open_groups[category] = group_open
        return group_open

    def _close(self, open_group: OpenGroup) -> list[tuple[str, object]]:
        """The group's record and the messages posted in it."""
        rng = self.group_rng
        group = open_group.group
        records: list[tuple[str, object]] = [("groups", group)]
        joins = [int(member.join_time.timestamp()) for member in group.members]
        first = int(group.create_time.timestamp())
        times = sorted(
            first + int(rng.random() * (self.end - first)) for _ in range(6 + int(rng.random() * 14))
        )
        for moment in times:
            present = [
                member.userid for member, joined in zip(group.members, joins, strict=True) if joined <= moment
            ]
            customers = present[2:] if len(present) > 2 else []
            if customers and rng.random() < 0.55:
                sender = pick(rng, customers)
                text = pick(rng, chats.CUSTOMER_GROUP_LINES)
            else:
                sender = group.owner
                text = pick(rng, chats.GROUP_POSTS[open_group.category])
            tolist = [userid for userid in present if userid != sender]
            milliseconds = moment * 1000 + int(rng.random() * 1000)
            records.append(
                (
                    "messages",
                    self._message(sender, tolist, group.chat_id, milliseconds, "text", {"content": text}),
                )
            )
        return records

    def close_all(self) -> list[tuple[str, object]]:
        records: list[tuple[str, object]] = []
        for category in catalog.CATEGORIES:  # fixed order: never iterate a dict built at random
            open_group = self.open_groups.pop(category, None)
            if open_group is not None:
                records.extend(self._close(open_group))
        return records
