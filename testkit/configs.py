"""Configs the tests and benchmarks share."""

from __future__ import annotations

# A complete, valid store config: the contract defaults apply to everything it leaves out.
VALID = """\
store:
  id: sh-xh-0001
  name: 老王面馆
  licence_number: JY31010400012345
  district: xuhui
  address: 上海市徐汇区漕溪北路1号
  kcps: [cooking, prep, dishwashing]
broker:
  url: mqtts://127.0.0.1:8883
  username: box-0001
streams:
  ingest_url: rtmp://127.0.0.1/live/{store_id}-{camera_id}?token={token}
  max_kbps: 512
"""
