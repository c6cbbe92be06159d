"""Tags, segments, RFM and lifecycle (标签 / 分群 / RFM / 生命周期).

models.py      tables (see its docstring)
conditions.py  the condition language of rule tags and segments: validate, compile to SQL
changes.py     the one writer of customer tags: rows, history (timeline) and tag.added/removed
evaluation.py  rule tags evaluated for a few customers (events) or all of them (batch, progress)
realtime.py    which events re-evaluate which customers
segments.py    saved filters: counts, previews, exports, targets for other modules
rfm.py         RFM scores; lifecycle.py: stages and the daily counts and flows between them
schedule.py    periodic jobs: RFM + stages every few minutes, rule tags once a day
lifecycle_views.py  the RFM and lifecycle dashboard (/tags/lifecycle)
wecom_sync.py  the WeCom mirror both ways (add_corp_tag / mark_tag out, callbacks in)
service.py     tag groups, tags, manual tagging, rule saving: what the API and console call
"""
