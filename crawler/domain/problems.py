"""Every problem code a record or a reject can carry: its field and what it means.

The one list. The components that record problems take their codes from here
(``problem_codes``); docs/record.md's "Problems and rejects" tables list the same codes
(tests/test_problems.py checks that they agree). A *problem* stays on a stored record; a
*reject* reason keeps the page out of the database and in the rejects file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from itemadapter import ItemAdapter

PROBLEM = "problem"
REJECT = "reject"


@dataclass(frozen=True, slots=True)
class ProblemCode:
    code: str
    field: str
    meaning: str
    effect: str = PROBLEM  # PROBLEM: the record is stored with it; REJECT: it is not stored
    owner: str = ""  # the module that records it


def _codes(*codes: ProblemCode) -> dict[str, ProblemCode]:
    return {entry.code: entry for entry in codes}


def _too_long(name: str) -> ProblemCode:
    setting = f"MAX_{name.upper()}_CHARS"
    return ProblemCode(
        f"{name}_too_long",
        name,
        f"the {name} was longer than {setting}; the first characters were kept",
        owner="pipelines.fields",
    )


PROBLEMS: dict[str, ProblemCode] = _codes(
    ProblemCode(
        "charset_corrected",
        "body_text",
        "the page declared a single-byte charset (e.g. ISO-8859-1) but its bytes are UTF-8; "
        "it was decoded as UTF-8 (the message names the declared charset)",
        owner="crawler.middlewares.charset",
    ),
    ProblemCode(
        "charset_not_utf8",
        "body_text",
        "the page declared UTF-8 but its bytes are not UTF-8; it was decoded as the charset its "
        "other declaration names, else windows-1258 when its bytes read as Vietnamese there, "
        "else windows-1252 (the message names the charset and why)",
        owner="crawler.middlewares.charset",
    ),
    ProblemCode(
        "charset_invalid_bytes",
        "body_text",
        "the page is UTF-8 but some of its bytes are not valid UTF-8; they read as U+FFFD "
        "(the message counts them)",
        owner="crawler.middlewares.charset",
    ),
    ProblemCode(
        "summary_truncated",
        "summary",
        "the summary ends with '...' and no untruncated description continues it; "
        "the shortened text was kept",
        owner="pipelines.fields",
    ),
    _too_long("title"),
    _too_long("summary"),
    _too_long("author"),
    _too_long("category"),
    ProblemCode(
        "missing_url",
        "url",
        "the item has neither a url nor a fetched_url, so no URL could be determined",
        REJECT,
        owner="pipelines.urls",
    ),
    ProblemCode(
        "url_not_article",
        "url",
        "the page shows one article, but its canonical URL is in none of Liferay's article URL "
        "forms (display page, legacy display page, Asset Publisher content or portlet URL)",
        owner="pipelines.urls",
    ),
    ProblemCode(
        "unparseable_date",
        "published_at",
        "a date string matches no supported form, or names an impossible date",
        owner="pipelines.dates",
    ),
    ProblemCode(
        "ambiguous_date",
        "published_at",
        "a numeric d/m date whose locale is unknown, so day and month cannot be told",
        owner="pipelines.dates",
    ),
    ProblemCode(
        "unknown_locale",
        "published_at",
        "a numeric date in a locale other than English or Vietnamese",
        owner="pipelines.dates",
    ),
    ProblemCode(
        "unknown_timezone",
        "published_at",
        "a date-time printed a time zone name the crawler cannot map to an offset",
        owner="pipelines.dates",
    ),
    ProblemCode(
        "published_at_date_only",
        "published_at",
        "no published date candidate had a time; published_at is midnight",
        owner="pipelines.dates",
    ),
    ProblemCode(
        "date_disagreement",
        "published_at",
        "two published date candidates name different instants (or days)",
        owner="pipelines.dates",
    ),
    ProblemCode(
        "missing_published_at",
        "published_at",
        "no publication date could be read (the page showed none, or none parsed)",
        REJECT,
        owner="pipelines.dates",
    ),
    ProblemCode(
        "modified_before_published",
        "modified_at",
        "the newest modification date is earlier than published_at",
        owner="pipelines.dates",
    ),
    ProblemCode(
        "body_html_sanitized",
        "body_html",
        "the sanitizer removed elements or event-handler attributes from body_html "
        "(the message lists them)",
        owner="pipelines.html",
    ),
    ProblemCode(
        "not_article",
        "url",
        "the page is not an article (soft 404, empty shell, no body)",
        REJECT,
        owner="pipelines.validate",
    ),
    ProblemCode("missing_title", "title", "no title on the page", REJECT, "pipelines.validate"),
    ProblemCode(
        "missing_body_text",
        "body_text",
        "no article body on the page",
        REJECT,
        "pipelines.validate",
    ),
    ProblemCode(
        "body_too_long",
        "body_text",
        "body_text or body_html is longer than MAX_BODY_CHARS (the message gives the lengths); "
        "the page is rejected rather than stored cut",
        REJECT,
        owner="pipelines.validate",
    ),
)


def problem_codes(*codes: str) -> dict[str, str]:
    """code -> meaning for the given codes (a component's view of the registry)."""
    return {code: PROBLEMS[code].meaning for code in codes}


def problem(code: str, message: str, field: str | None = None) -> dict[str, str]:
    """A problem as records carry it; the field defaults to the code's own field."""
    return {"field": field or PROBLEMS[code].field, "code": code, "message": message}


def add_problem(adapter: ItemAdapter, code: str, message: str, field: str | None = None) -> None:
    adapter["problems"] = [*(adapter.get("problems") or []), problem(code, message, field)]
