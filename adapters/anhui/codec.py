"""The anhui dialect (anhui.md): Hefei and Huainan sites of the Anhui government-service network.

JSON bodies without an envelope for submissions (§6.1-§6.3); the licence and the catalogue travel inside the
response envelope ``{"code","msg","data"}`` (§4, §6.4, §6.5). Field tables: ``mappings/anhui/*.toml``.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C

from ..base import DialectAdapter, Envelope
from ..jsonwire import dump_json, parse_json

__all__ = ["AnhuiAdapter"]

CATALOGUE_PAGE_LIMIT = 1000  # §5: pageSize 1-1000; more records in a page is BATCH_TOO_LARGE


class AnhuiAdapter(DialectAdapter):
    name = "anhui"
    batch_where = "data.list"

    def parse(self, record_type: str, body: bytes) -> Any:
        tree = parse_json(body)
        if record_type in ("licence", "item"):
            data = tree.get("data")
            if type(data) is not dict:
                raise Refusal(C.MALFORMED, "data", "the response envelope has no data object")
            if record_type == "licence":
                return data
            items = data.get("list")
            if type(items) is not list:
                raise Refusal(C.MALFORMED, "data.list", "the catalogue page has no list")
            if len(items) > CATALOGUE_PAGE_LIMIT:
                raise Refusal(C.BATCH_TOO_LARGE, "data.list", f"more than {CATALOGUE_PAGE_LIMIT} items in a page")
            return items
        return tree

    def render(self, record_type: str, tree: Any, envelope: Envelope) -> bytes:
        if record_type == "licence":
            return dump_json({"code": "200", "msg": "成功", "data": tree})
        if record_type == "item":
            page = {"pageNo": 1, "pageSize": max(len(tree), 1), "total": len(tree), "list": tree}
            return dump_json({"code": "200", "msg": "成功", "data": page})
        return dump_json(tree)
