"""The SQL both backends run, written once with ``?`` placeholders (:func:`numbered`, the store's, renders ``$n``).

SQL is assembled from module constants only, never from caller data (hence the S608 noqa).
"""

from __future__ import annotations

from typing import Final

from gateway.store._sql import numbered

from ._rows import ENTRY_COLUMNS, SEAL_COLUMNS

__all__ = [
    "ANCHOR",
    "CUT_BY_NO",
    "ENTRIES_ALL",
    "ENTRIES_RANGE",
    "HEAD",
    "INSERT_CUT",
    "INSERT_ENTRY",
    "INSERT_SEAL",
    "MAX_SEQ",
    "MOVE_ANCHOR",
    "MOVE_HEAD",
    "PURGE_CUTOFF",
    "PURGE_ENTRIES",
    "PURGE_SEALS",
    "SEALS_ALL",
    "SEALS_RANGE",
    "SEAL_BY_NO",
    "SEAL_HEAD",
    "numbered",
    "search_sql",
]

#: Larger than any sequence or seal number the log will reach; "no upper bound" in range queries.
MAX_SEQ: Final = 2**62

_E: Final = ", ".join(ENTRY_COLUMNS)
_S: Final = ", ".join(SEAL_COLUMNS)

INSERT_ENTRY: Final = f"INSERT INTO msglog_entries ({_E}) VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})"  # noqa: S608
INSERT_SEAL: Final = f"INSERT INTO msglog_seals ({_S}) VALUES ({', '.join('?' * len(SEAL_COLUMNS))})"  # noqa: S608
HEAD: Final = "SELECT last_seq, last_hash, seal_no, seal_hash, sealed_seq FROM msglog_head WHERE id = 1"
MOVE_HEAD: Final = "UPDATE msglog_head SET last_seq = ?, last_hash = ? WHERE id = 1"
SEAL_HEAD: Final = "UPDATE msglog_head SET seal_no = ?, seal_hash = ?, sealed_seq = ? WHERE id = 1"
ANCHOR: Final = "SELECT seq, entry_hash, seal_no, seal_hash FROM msglog_anchor WHERE id = 1"
MOVE_ANCHOR: Final = "UPDATE msglog_anchor SET seq = ?, entry_hash = ?, seal_no = ?, seal_hash = ? WHERE id = 1"
SEALS_ALL: Final = f"SELECT {_S} FROM msglog_seals ORDER BY seal_no"  # noqa: S608
SEALS_RANGE: Final = f"SELECT {_S} FROM msglog_seals WHERE seal_no >= ? AND seal_no <= ? ORDER BY seal_no"  # noqa: S608
SEAL_BY_NO: Final = f"SELECT {_S} FROM msglog_seals WHERE seal_no = ?"  # noqa: S608
ENTRIES_ALL: Final = f"SELECT {_E} FROM msglog_entries ORDER BY seq"  # noqa: S608
ENTRIES_RANGE: Final = f"SELECT {_E} FROM msglog_entries WHERE seq > ? AND seq <= ? ORDER BY seq"  # noqa: S608
# Retention: the first seal made at or after the cut-off; every seal before it goes (whole segments only).
PURGE_CUTOFF: Final = "SELECT MIN(seal_no) FROM msglog_seals WHERE at_us >= ?"
PURGE_ENTRIES: Final = "DELETE FROM msglog_entries WHERE seq <= ?"
PURGE_SEALS: Final = "DELETE FROM msglog_seals WHERE seal_no <= ?"
# Every cut keeps the seal it removed last (the one the anchor stands on); see migration 2.
INSERT_CUT: Final = f"INSERT INTO msglog_cuts ({_S}) VALUES ({', '.join('?' * len(SEAL_COLUMNS))})"  # noqa: S608
CUT_BY_NO: Final = f"SELECT {_S} FROM msglog_cuts WHERE seal_no = ?"  # noqa: S608


def search_sql(case_no: bool, licence_id: bool) -> str:
    """Entries by case number and/or licence id (both optional), oldest first, with a ``LIMIT ?``."""
    conditions = ["1 = 1"]
    if case_no:
        conditions.append("case_no = ?")
    if licence_id:
        conditions.append("licence_id = ?")
    return f"SELECT {_E} FROM msglog_entries WHERE {' AND '.join(conditions)} ORDER BY seq LIMIT ?"  # noqa: S608
