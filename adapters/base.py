"""What every dialect adapter is: bytes in, canonical record out, and back (no I/O, no clock, no keys).

An adapter owns its dialect's wire format and envelope; its field tables are the mapping files under
``mappings/<dialect>/``. Decoding runs README §10 in order for a message read without its transport: body size,
record type, encoding, DTD, well-formedness, envelope, counts, fields, cross-field rules. Transport checks (TIF,
signatures, replay windows) belong to the wire-scheme layer, not here.

Subclasses implement two hooks, ``parse`` (bytes → the record's tree, or the list of item trees of a batch) and
``render`` (tree → bytes with the envelope); each is declared to the core by its package's ``Dialect``.
"""

from __future__ import annotations

import tomllib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import ItemBatch
from gateway.model.rules import check_record_rules
from mappings.engine import MappingContext, RecordMapping
from mappings.loader import compile_mapping, load_reference
from mappings.tables import Tables

__all__ = ["DialectAdapter", "Envelope"]

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


@dataclass(frozen=True, slots=True)
class Envelope:
    """Envelope values of an outgoing message, made by the caller (adapters never read the clock).

    ``sender``/``receiver`` are the dialect's party codes (g60 SenderCode/ReceiverCode, zlb appKey, shanghai appId).
    """

    message_id: str
    sent_at: datetime
    request_id: str
    sender: str = ""
    receiver: str = ""


class DialectAdapter(ABC):
    """Base of the dialect adapters; see the module docstring."""

    name: ClassVar[str] = ""
    content_type: ClassVar[str] = "application/json;charset=UTF-8"
    #: where a batch's records sit, for rejections about the batch as a whole (README §10 step 10)
    batch_where: ClassVar[str] = ""

    def __init__(
        self,
        tables: Tables,
        item_columns: tuple[str, ...] = (),
        mappings_dir: Path = MAPPINGS,
        *,
        folder: Path | None = None,
    ) -> None:
        """``folder``: the dialect's mapping tables (``Dialect.mappings``; default ``mappings_dir/<name>``), so that a
        dialect outside this tree brings its own; ``reference.toml`` is always the shared one of ``mappings_dir``."""
        folder = folder or mappings_dir / self.name
        with (folder / "dialect.toml").open("rb") as fh:
            self.settings: dict[str, Any] = tomllib.load(fh)
        self.tables = tables
        self.body_limit: int = int(self.settings["body_limit"])
        reference = load_reference(mappings_dir / "reference.toml")
        ctx = MappingContext(tables, item_columns)
        self.mappings: dict[str, RecordMapping] = {}
        for path in sorted(folder.glob("*.toml")):
            if path.name != "dialect.toml":
                mapping = compile_mapping(path, ctx, reference, self.settings)
                self.mappings[mapping.record_type] = mapping
        self._item_types = tables.crosswalk.item_type
        #: per record type, the element structure an XML dialect's parser is guided by on every message (built
        #: once); empty for JSON dialects
        self.schemas: dict[str, Any] = (
            {name: mapping.schema() for name, mapping in self.mappings.items()}
            if self.settings.get("syntax") == "xml"
            else {}
        )

    # --- what the dialect carries --------------------------------------------------------------------------------
    @property
    def record_types(self) -> frozenset[str]:
        return frozenset(self.mappings)

    def mapping(self, record_type: str) -> RecordMapping:
        """The record type's mapping, or ``UNSUPPORTED_TYPE`` (README §10 step 2)."""
        mapping = self.mappings.get(record_type)
        if mapping is None:
            raise Refusal(C.UNSUPPORTED_TYPE, None, f"the {self.name} dialect does not carry {record_type} records")
        return mapping

    # --- decoding --------------------------------------------------------------------------------------------------
    def check_size(self, body: bytes) -> None:
        if len(body) > self.body_limit:
            raise Refusal(C.BODY_TOO_LARGE, None, f"body is larger than {self.body_limit} bytes")

    def decode(self, record_type: str, body: bytes) -> Any:
        """The canonical record in ``body`` (a message without its transport envelope, README §10)."""
        self.check_size(body)
        mapping = self.mapping(record_type)
        tree = self.parse(record_type, body)
        if record_type == "item":
            return self._decode_batch(mapping, tree)
        return self.decode_record(mapping, tree)

    def decode_record(self, mapping: RecordMapping, tree: Any) -> Any:
        if type(tree) is not dict:  # e.g. a number or a list among a catalogue page's items (issue 11 item 7)
            raise Refusal(C.MALFORMED, mapping.root or None, "a record must be an object")
        values = mapping.decode_values(tree)
        mapping.check_wire_rules(tree)
        record = mapping.build(values)
        check_record_rules(record, self._item_types, mapping.ref_where.get)
        return record

    def _decode_batch(self, mapping: RecordMapping, trees: list[Any]) -> ItemBatch:
        items = []
        for i, tree in enumerate(trees):
            try:
                items.append(self.decode_record(mapping, tree))
            except Refusal as exc:
                raise exc.at(self.entry_where(exc.where, i)) from None
        return ItemBatch(tuple(items))

    def entry_where(self, where: str | None, index: int) -> str:
        """The path of a field of the ``index``-th record of a batch (JSON counts from 0, XML from 1)."""
        root = self.mappings["item"].root
        if not where:
            return root
        xml = self.settings.get("syntax") == "xml"
        return where.replace(root, f"{root}[{index + 1 if xml else index}]", 1)

    # --- encoding --------------------------------------------------------------------------------------------------
    def encode(
        self, record_type: str, record: Any, envelope: Envelope, item_codes: Mapping[str, str] | None = None
    ) -> bytes:
        """``record`` in this dialect with ``envelope``; ``item_codes`` maps 基本编码 → the destination's code."""
        mapping = self.mapping(record_type)
        if record_type == "item":
            tree: Any = [mapping.encode(item) for item in record.items]
        else:
            tree = mapping.encode(record, item_codes)
        return self.render(record_type, tree, envelope)

    # --- the dialect's hooks -----------------------------------------------------------------------------------------
    @abstractmethod
    def parse(self, record_type: str, body: bytes) -> Any:
        """Bytes → the record object's tree (or a list of item trees); README §10 steps 3-7."""

    @abstractmethod
    def render(self, record_type: str, tree: Any, envelope: Envelope) -> bytes:
        """The record tree (or list of item trees) → bytes with this dialect's envelope."""
