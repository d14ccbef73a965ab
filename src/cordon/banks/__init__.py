"""Banks of signals: create, fill (files, hash lists), withdraw, export, and read back the
live signals a matcher indexes. Everything here goes through the store; nothing else should
write SQL for banks.

    from cordon.banks import Banks, open_banks
    banks = open_banks()                 # CORDON_DATABASE_URL or $CORDON_HOME/cordon.db
    banks.create("tcap")
    banks.import_file("tcap", "list.json")
    for entry_id, pdq in banks.live_signals("pdq"):
        ...
"""

from __future__ import annotations

from cordon.banks.formats import AUTO, FORMATS
from cordon.banks.records import Problem, RawRecord
from cordon.banks.service import (
    BankInfo,
    Banks,
    BankSummary,
    Entry,
    ExportSummary,
    ImportSummary,
    UnknownBankError,
    UnknownEntryError,
)
from cordon.store import Store


def open_banks(database_url: str | None = None) -> Banks:
    """Banks of the configured database, migrated to the current schema."""
    return Banks(Store(database_url))


__all__ = [
    "AUTO",
    "FORMATS",
    "BankInfo",
    "BankSummary",
    "Banks",
    "Entry",
    "ExportSummary",
    "ImportSummary",
    "Problem",
    "RawRecord",
    "UnknownBankError",
    "UnknownEntryError",
    "open_banks",
]
