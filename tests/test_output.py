"""Sinks and escaping: pure logic, no kernel."""

from __future__ import annotations

import json

from bpfkit.output import JsonSink, Output, TextSink, escape


def test_escape_makes_control_characters_visible() -> None:
    assert escape("plain/path.txt") == "plain/path.txt"
    assert escape("a\nb") == "a\\nb"
    assert escape("\x1b[31mred") == "\\x1b[31mred"
    assert escape("tab\there\r") == "tab\\there\\r"
    assert escape("back\\slash") == "back\\\\slash"  # so an escape cannot be forged either
    assert escape("del\x7f c1\x9b") == "del\\x7f c1\\x9b"
    assert escape("ünïcödé") == "ünïcödé"


def test_text_sink_aligns_columns(tmp_path) -> None:
    out = Output(str(tmp_path / "o.txt"))
    sink = TextSink(out, [("TIME", 8), ("PID", -7), ("NAME", 0)])
    sink.write_header()
    sink.write_rows([("12:00:00", "42", "x"), ("12:00:01", "1234567", "y z")])
    out.close()
    lines = (tmp_path / "o.txt").read_text().splitlines()
    assert lines == ["TIME         PID NAME", "12:00:00      42 x", "12:00:01 1234567 y z"]


def test_json_sink_is_valid_for_any_string(tmp_path) -> None:
    out = Output(str(tmp_path / "o.jsonl"))
    JsonSink(out).write_records([{"path": "a\nb\x1b\\xff", "raw": b"\x00\xff", "n": 1}])
    out.close()
    (line,) = (tmp_path / "o.jsonl").read_text().splitlines()
    assert line.isascii()
    assert json.loads(line) == {"path": "a\nb\x1b\\xff", "raw": "00ff", "n": 1}


def test_output_reopen_follows_logrotate(tmp_path) -> None:
    path = tmp_path / "log"
    out = Output(str(path))
    out.write("one\n")
    path.rename(tmp_path / "log.1")
    out.reopen()
    out.write("two\n")
    out.close()
    assert (tmp_path / "log.1").read_text() == "one\n" and path.read_text() == "two\n"


def test_size_rotation_splits_a_big_batch_at_line_boundaries(tmp_path) -> None:
    """However many lines one write holds (a slow reader's batch), each file
    ends at the last whole line that fits in --rotate-size."""
    from bpfkit.output.rotation import Rotation

    path = tmp_path / "o.log"
    out = Output(str(path), rotation=Rotation(size=100, keep=50))
    lines = [f"line {i:03}\n" for i in range(100)]  # 9 bytes each: 900 bytes in one write
    out.write("".join(lines))
    out.write("x" * 250 + "\n")  # one line longer than a file: whole, on its own
    out.write("tail\n")
    out.close()
    files = [path, *sorted(tmp_path.glob("o.log.*"), key=lambda p: -int(p.suffix[1:]))]
    texts = [f.read_text() for f in files[1:]] + [path.read_text()]
    assert "".join(texts) == "".join(lines) + "x" * 250 + "\ntail\n"  # nothing lost, in order
    assert all(t.endswith("\n") for t in texts)
    assert [len(t) for t in texts] == [99] * 9 + [9, 251, 5]  # 11 lines a file; the long one alone
