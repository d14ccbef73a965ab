"""The `cordon.banks` API on both backends: banks, entries, withdrawals, import formats,
bad input and interrupted imports."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cordon.banks import Banks, UnknownBankError, UnknownEntryError
from cordon.errors import CordonError
from cordon.signals.pdq import PdqHash

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "0" * 63 + "1"
MD5_A = "d41d8cd98f00b204e9800998ecf8427e"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_banks_are_created_listed_and_refused_twice(banks: Banks) -> None:
    banks.create("tcap", "TCAP alerts")
    banks.create("local")
    assert [(b.name, b.description) for b in banks.list()] == [
        ("local", None), ("tcap", "TCAP alerts")]
    with pytest.raises(CordonError, match="already exists"):
        banks.create("tcap")
    for bad in ("", "has space", "-dash", "x" * 101):
        with pytest.raises(CordonError, match="invalid bank name"):
            banks.create(bad)


def test_unknown_banks_and_entries_are_clear_errors(banks: Banks) -> None:
    with pytest.raises(UnknownBankError, match="no bank named 'nope'"):
        banks.summary("nope")
    with pytest.raises(UnknownBankError):
        banks.add("nope", {"pdq": PDQ_A})
    banks.create("b")
    with pytest.raises(UnknownEntryError, match="no entry 42"):
        banks.withdraw("b", 42)


def test_the_same_signals_give_the_same_entry_and_labels_merge(banks: Banks) -> None:
    banks.create("b")
    first = banks.add("b", {"pdq": PDQ_A, "md5": MD5_A}, labels=["x"], source="a.jpg")
    again = banks.add("b", {"md5": MD5_A.upper()}, labels=["y"])
    assert again == first
    entry = banks.entry("b", first)
    assert entry.labels == ["x", "y"] and entry.source == "a.jpg"
    assert sorted(entry.signals) == [("md5", MD5_A), ("pdq", PDQ_A)]
    assert entry.content_type == "image"  # implied by PDQ
    summary = banks.summary("b")
    assert (summary.live, summary.withdrawn) == (1, 0)
    assert summary.signals == {"md5": 1, "pdq": 1} and summary.labels == {"x": 1, "y": 1}


def test_the_same_signal_in_two_banks_is_two_entries(banks: Banks) -> None:
    banks.create("a")
    banks.create("b")
    assert banks.add("a", {"pdq": PDQ_A}) != banks.add("b", {"pdq": PDQ_A})


def test_withdrawal_keeps_a_tombstone_out_of_the_live_signals(banks: Banks) -> None:
    banks.create("b")
    keep = banks.add("b", {"pdq": PDQ_A})
    gone = banks.add("b", {"pdq": PDQ_B})
    entry, was_live = banks.withdraw("b", gone)
    assert was_live and entry.withdrawn_at is not None
    assert banks.withdraw("b", gone)[1] is False
    assert list(banks.live_signals("pdq")) == [(keep, PdqHash(PDQ_A))]
    assert banks.summary("b").withdrawn == 1
    # Adding a withdrawn signal again does not bring it back: withdrawal is a decision.
    assert banks.add("b", {"pdq": PDQ_B}) == gone
    assert banks.entry("b", gone).withdrawn_at is not None
    everything = [e.id for e in banks.entries("b", include_withdrawn=True)]
    assert everything == [keep, gone] and [e.id for e in banks.entries("b")] == [keep]


def test_live_signals_keep_the_json_detail_and_filter_banks(banks: Banks) -> None:
    banks.create("a")
    banks.create("b")
    in_a = banks.add("a", {"pdq": {"hash": PDQ_A, "quality": 87}})
    banks.add("b", {"pdq": PDQ_B})
    assert list(banks.live_signals("pdq", ["a"])) == [(in_a, PdqHash(PDQ_A, 87))]
    assert len(list(banks.live_signals("pdq"))) == 2
    assert list(banks.live_signals("md5")) == []


def test_an_empty_bank_shows_and_exports(banks: Banks) -> None:
    banks.create("empty")
    summary = banks.summary("empty")
    assert (summary.live, summary.withdrawn, summary.signals) == (0, 0, {})
    for fmt in ("jsonl", "lines", "tx-csv", "tat-json"):
        out = io.StringIO()
        assert banks.export("empty", fmt, out).written == 0
    assert json.loads(out.getvalue())["results"] == []


@pytest.mark.parametrize("bad", [
    "pdq " + PDQ_A[:-1],            # wrong length
    "pdq " + PDQ_A[:-1] + "g",      # not hex
    "md5 " + PDQ_A,                 # wrong type for the value
    "nosuchtype " + MD5_A,          # unknown type
    "pdq",                          # no value
])
def test_malformed_lines_are_skipped_with_their_line_number(
    banks: Banks, tmp_path: Path, bad: str
) -> None:
    banks.create("b")
    source = write(tmp_path / "list.txt", f"pdq {PDQ_A}\n{bad}\nmd5 {MD5_A}\n")
    summary = banks.import_file("b", source, "lines")
    assert (summary.records, summary.created, summary.skipped) == (3, 2, 1)
    assert [p.location for p in summary.problems] == ["line 2"]


def test_importing_twice_creates_no_duplicates(banks: Banks, tmp_path: Path) -> None:
    banks.create("b")
    source = write(tmp_path / "list.txt", f"pdq {PDQ_A}\npdq {PDQ_A}\nmd5 {MD5_A}\n")
    first = banks.import_file("b", source)
    assert (first.format, first.created, first.unchanged) == ("lines", 2, 0)
    second = banks.import_file("b", source)
    assert (second.created, second.unchanged) == (0, 2)
    assert banks.summary("b").live == 2


def test_an_interrupted_import_finishes_on_rerun(banks: Banks, tmp_path: Path) -> None:
    banks.create("b")
    lines = [f"pdq {i:064x}" for i in range(1, 251)]
    source = write(tmp_path / "list.txt", "\n".join(lines) + "\n")

    def crash(summary: object, position: int) -> None:
        if banks.summary("b").live >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        banks.import_file("b", source, batch_size=50, on_batch=crash)
    assert banks.summary("b").live == 100
    rerun = banks.import_file("b", source, batch_size=50)
    assert (rerun.created, rerun.unchanged) == (150, 100)
    assert banks.summary("b").live == 250
    values = [v.hex for _, v in banks.live_signals("pdq")]
    assert len(values) == len(set(values)) == 250


def test_json_lines_round_trip_and_report_unknown_fields(banks: Banks, tmp_path: Path) -> None:
    banks.create("b")
    rows = [
        {"signals": {"pdq": {"hash": PDQ_A, "quality": 90}, "md5": MD5_A},
         "labels": ["attack:2019"], "content_type": "image", "source": "upload-1",
         "note": "from a report"},
        {"signals": {"pdq": PDQ_B}, "colour": "red"},
        "not an object",
        {"signals": {}},
    ]
    text = "\n".join(json.dumps(r) for r in rows) + "\n{broken\n"
    summary = banks.import_file("b", write(tmp_path / "in.jsonl", text))
    assert summary.format == "jsonl"
    assert (summary.created, summary.skipped, summary.warnings) == (2, 3, 1)
    messages = {p.location: p.message for p in summary.problems}
    assert "'colour'" in messages["line 2"] and "line 5" in messages
    out = io.StringIO()
    banks.export("b", "jsonl", out)
    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert exported[0]["signals"] == {"md5": MD5_A, "pdq": {"hash": PDQ_A, "quality": 90}}
    assert exported[0]["labels"] == ["attack:2019"] and exported[0]["note"] == "from a report"
    banks.create("copy")
    again = banks.import_file("copy", write(tmp_path / "out.jsonl", out.getvalue()))
    assert (again.created, again.skipped, again.warnings) == (2, 0, 0)
    assert banks.summary("copy").signals == banks.summary("b").signals


def test_tx_dataset_csv(banks: Banks, tmp_path: Path) -> None:
    banks.create("b")
    text = (
        "collab,signal_type,signal_str,category,tags\n"
        f"Sample,pdq,{PDQ_A},POSITIVE_CLASS,violence terror\n"
        f"Sample,video_md5,{MD5_A},POSITIVE_CLASS,\n"
        "Sample,pdq,nothex,POSITIVE_CLASS,\n"
    )
    summary = banks.import_file("b", write(tmp_path / "tx.csv", text))
    assert (summary.format, summary.created, summary.skipped) == ("tx-csv", 2, 1)
    assert summary.problems[0].location == "line 4"
    labels = banks.summary("b").labels
    assert labels["collab:Sample"] == 2 and labels["violence"] == 1
    md5_entry = next(e for e in banks.entries("b") if e.signals[0][0] == "md5")
    assert md5_entry.content_type == "video"
    out = io.StringIO()
    banks.export("b", "tx-csv", out)
    exported = out.getvalue().splitlines()
    assert exported[0] == "signal_type,signal_str,collab,category,tags"
    assert f"pdq,{PDQ_A},Sample,POSITIVE_CLASS,terror violence" in exported


def test_tat_hash_list_with_deletions(banks: Banks, tmp_path: Path) -> None:
    banks.create("tat")
    page = {
        "count": 3, "next": None, "previous": None, "checkpoint": "abc",
        "results": [
            {"id": 11, "hash_digest": PDQ_A, "algorithm": "PDQ", "ideology": "Far-right",
             "file_type": "image", "deleted": False, "updated_on": "2024-01-01T00:00:00Z",
             "created_on": "2024-01-01T00:00:00Z"},
            {"id": 12, "hash_digest": MD5_A, "algorithm": "MD5", "ideology": None,
             "file_type": "video", "deleted": True, "updated_on": "2024-01-02T00:00:00Z",
             "created_on": "2024-01-01T00:00:00Z"},
            {"id": 13, "hash_digest": "abc", "algorithm": "PDQ", "deleted": False},
            {"id": 14, "hash_digest": PDQ_B, "algorithm": "SHA1", "deleted": False},
        ],
    }
    summary = banks.import_file("tat", write(tmp_path / "tat.json", json.dumps(page, indent=2)))
    assert (summary.format, summary.created, summary.withdrawn, summary.skipped) == (
        "tat-json", 2, 1, 2)
    live = list(banks.entries("tat"))
    assert [(e.source, e.labels) for e in live] == [("11", ["file_type:image",
                                                             "ideology:Far-right"])]
    out = io.StringIO()
    banks.export("tat", "tat-json", out, include_withdrawn=True)
    exported = json.loads(out.getvalue())
    assert exported["count"] == 2
    assert {(r["algorithm"], r["deleted"], r["ideology"]) for r in exported["results"]} == {
        ("PDQ", False, "Far-right"), ("MD5", True, None)}
    # A later page that deletes a live entry withdraws it.
    page["results"] = [{**page["results"][0], "deleted": True}]
    banks.import_file("tat", write(tmp_path / "tat2.json", json.dumps(page)))
    assert banks.summary("tat").live == 0


def test_broken_tat_json_is_one_clear_error(banks: Banks, tmp_path: Path) -> None:
    banks.create("b")
    with pytest.raises(CordonError, match="not valid JSON"):
        banks.import_file("b", write(tmp_path / "x.json", '{"results": [1, '), "tat-json")
    with pytest.raises(CordonError, match="no such file"):
        banks.import_file("b", tmp_path / "missing.json")
    with pytest.raises(CordonError, match="empty"):
        banks.import_file("b", write(tmp_path / "empty.txt", "\n"))


def test_lines_export_reads_back_as_the_same_signals(banks: Banks, tmp_path: Path) -> None:
    banks.create("b")
    banks.add("b", {"pdq": PDQ_A, "md5": MD5_A})
    out = io.StringIO()
    banks.export("b", "lines", out)
    assert sorted(out.getvalue().splitlines()) == [f"md5 {MD5_A}", f"pdq {PDQ_A}"]
