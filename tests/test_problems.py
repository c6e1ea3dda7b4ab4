from __future__ import annotations

import re
from pathlib import Path

import pytest

from crawler.domain.problems import PROBLEMS, REJECT, problem
from crawler.middlewares import charset
from pipelines import dates, fields, html, urls, validate

RECORD_DOC = Path(__file__).resolve().parents[1] / "docs" / "record.md"
COMPONENT_CODES = {
    "crawler.middlewares.charset": charset.PROBLEM_CODES,
    "pipelines.fields": fields.PROBLEM_CODES,
    "pipelines.urls": urls.PROBLEM_CODES,
    "pipelines.dates": dates.PROBLEM_CODES,
    "pipelines.html": html.PROBLEM_CODES,
    "pipelines.validate": validate.PROBLEM_CODES,
}


def documented_problem_codes() -> set[str]:
    """Codes in the first column of the tables under docs/record.md's "Problems and rejects"."""
    section = RECORD_DOC.read_text(encoding="utf-8").split("### Problems and rejects", 1)[1]
    section = section.split("\n## ", 1)[0]
    codes: set[str] = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first_cell = line.split("|")[1]
            codes.update(re.findall(r"`([a-z0-9_]+)`", first_cell))
    return codes


def test_the_documented_problems_tables_list_exactly_the_registry_codes() -> None:
    assert documented_problem_codes() == set(PROBLEMS)


def test_every_component_code_is_in_the_registry_with_its_meaning() -> None:
    for component, codes in COMPONENT_CODES.items():
        for code, meaning in codes.items():
            assert PROBLEMS[code].meaning == meaning, (component, code)


def test_every_registry_code_is_recorded_by_the_component_it_names() -> None:
    for code, entry in PROBLEMS.items():
        assert code in COMPONENT_CODES[entry.owner] or code in validate.PROBLEM_CODES, code


def test_every_code_names_a_record_field_and_a_meaning() -> None:
    from crawler.domain.items import EXPORT_FIELDS  # noqa: PLC0415

    for entry in PROBLEMS.values():
        assert entry.field in EXPORT_FIELDS, entry.code
        assert entry.meaning, entry.code


def test_reject_codes_are_the_ones_that_keep_a_page_out_of_the_database() -> None:
    rejects = {code for code, entry in PROBLEMS.items() if entry.effect == REJECT}
    assert rejects == set(validate.PROBLEM_CODES)


def test_problem_takes_the_registry_field_unless_given() -> None:
    assert problem("summary_truncated", "m") == {
        "field": "summary",
        "code": "summary_truncated",
        "message": "m",
    }
    assert problem("missing_title", "m", "title")["field"] == "title"


def test_an_unregistered_code_cannot_be_recorded() -> None:
    with pytest.raises(KeyError):
        problem("made_up_code", "m")
