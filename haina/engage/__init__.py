"""Engage: the daily WeCom work of a merchant's operations team, one sub-package per job.

* `livecodes`  — channel live codes (渠道活码): contact ways with a `state`, staff pools with
  schedules, daily limits and a backup, auto tags and remark, QR download, per-code statistics.
* `welcome`    — welcome messages (欢迎语) per code or per staff, sent with the callback's
  single-use welcome code inside its 20 s window.
* `groupcodes` — group live codes (群活码): one QR rotating across customer groups as they fill.
* `broadcasts` — mass messaging (群发) to a segment or tag filter through each customer's staff,
  with caps, schedules, confirmation tracking and delivery / reply statistics.
* `handover`   — staff handover (离职继承 / 在职转接) within WeCom's limits, result per customer.
* `losses`     — loss alerts (流失提醒) when a customer and a staff member part.
* `moments`    — customer moments (客户朋友圈): compose, target by tags, track publishing.
* `scripts`    — materials and scripts library (话术库), searchable, one click from the sidebar.

Each sub-package has the house layout (models, schemas, repository, service, api, views,
tasks); templates live in `haina/web/templates/engage/<sub-package>/`. `schedule.py` runs the
periodic jobs the sub-packages register; `views.py` is the hub page at /engage.
"""
