"""The one Markdown table and the one terminal table (CJK-aware) every report uses."""

from __future__ import annotations

from oversight.reporting.tables import clip, markdown, pad, render, width


def test_markdown_escapes_pipes_and_newlines_and_leaves_none_empty() -> None:
    assert markdown(["城市 city", "n"], [["西安 | 610100", None], ["a\nb", 3]]) == (
        "| 城市 city | n |\n|---|---|\n| 西安 \\| 610100 |  |\n| a b | 3 |"
    )


def test_width_counts_chinese_as_two_columns_and_combining_marks_as_none() -> None:
    assert width("西安市") == 6
    assert width("e\u0301") == 1
    assert pad("西安", 6) == "西安  "
    assert pad("96.33%", 8, right=True) == "  96.33%"
    assert clip("陕西省西安市", 7) == "陕西省…"


def test_terminal_table_aligns_mixed_scripts() -> None:
    lines = render(["城市", "alerts"], [["西安市", "3"], ["Yangling 杨凌", "12"]]).splitlines()
    assert lines == ["城市           alerts", "-------------  ------", "西安市         3", "Yangling 杨凌  12"]
    # the second column starts at the same terminal column on every line
    starts = [width(line[: line.rindex(v)]) for line, v in zip(lines, ["alerts", "------", "3", "12"], strict=True)]
    assert starts == [15, 15, 15, 15]
