"""``scrapy probe``'s parts without a crawl: its budget, its WARC file, the parser's account of
layers it reports, its coverage verdict, and its refusals of bad usage (one line, exit 2)."""

from __future__ import annotations

import errno
import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.cmdline import execute
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Request, Response
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator

from crawler.commands.probe import NO_PORTAL
from crawler.domain.outcome import recorded_failures
from crawler.extensions.reachability import UNREACHABLE
from crawler.parsers.article import parse_article
from crawler.probe.findings import ArticleSeen, Findings, coverage_verdict, field_layers
from crawler.probe.spider import Budget
from crawler.probe.warc import WarcRecorder
from crawler.sites.profile import profile_from_dict
from tests.crawl_runner import PROJECT_ROOT
from tests.warc_fixtures import warc_pages, warc_responses

# --- the budget: a sample across sources ------------------------------------------------------


def test_the_budget_takes_a_share_per_source_then_the_rest_in_turn() -> None:
    budget: Budget[str] = Budget(limit=5, per_source=2)
    taken = [url for url in ("a1", "a2", "a3", "a4") if budget.offer(url, "A", url)]
    taken += [url for url in ("b1", "b2", "b3") if budget.offer(url, "B", url)]
    assert taken == ["a1", "a2", "b1", "b2"]
    assert not budget.offer("a1", "A", "a1")  # seen already: never twice
    assert budget.rest() == ["a3"]  # one left of the limit, from the first source in turn
    assert budget.rest() == []
    assert budget.left_out == 2


# --- the WARC file ----------------------------------------------------------------------------

PAGE = (
    "<html lang='vi-VN'><head><title>T</title></head><body><h1>Tiêu đề</h1>"
    "<div class='journal-content-article'><p>" + "Nội dung bài viết. " * 20 + "</p>"
    "<p>Đoạn hai của bài viết, đủ dài để là một đoạn văn.</p></div></body></html>"
)


def _exchange(url: str, body: bytes, headers: dict[str, str]) -> tuple[Request, Response]:
    request = Request(url, headers={"User-Agent": "probe-test", "Accept-Encoding": "gzip"})
    response = Response(url, status=200, headers=headers, body=body, request=request)
    return request, response


def _recorder(path: Path) -> WarcRecorder:
    """The probe's WARC middleware, its file open, as a probe's spider_opened leaves it."""
    recorder = WarcRecorder.from_crawler(get_crawler(settings_dict={"PROBE_WARC_PATH": str(path)}))
    recorder.spider_opened()
    return recorder


def _record(recorder: WarcRecorder, url: str, body: bytes, headers: dict[str, str]) -> None:
    request, response = _exchange(url, body, headers)
    assert recorder.process_response(request, response) is response


def test_a_warc_holds_a_request_and_a_response_record_per_exchange(tmp_path: Path) -> None:
    path = tmp_path / "probe.warc.gz"
    warc = _recorder(path)
    _record(warc, "http://portal.test/w/a?x=1", PAGE.encode(), {"Content-Type": "text/html"})
    warc.spider_closed()
    with path.open("rb") as stream:
        records = [
            (r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.rec_headers)
            for r in ArchiveIterator(stream)
        ]
    assert [kind for kind, _, _ in records] == ["warcinfo", "response", "request"]
    assert warc.records == 3
    (_, _, response), (_, url, request) = records[1], records[2]
    assert url == "http://portal.test/w/a?x=1"
    assert request.get_header("WARC-Concurrent-To") == response.get_header("WARC-Record-ID")
    with path.open("rb") as stream:
        sent = next(r for r in ArchiveIterator(stream) if r.rec_type == "request")
        assert sent.http_headers.protocol == "GET"
        assert sent.http_headers.statusline == "/w/a?x=1 HTTP/1.1"
        assert sent.http_headers.get_header("Host") == "portal.test"
        assert sent.http_headers.get_header("User-Agent") == "probe-test"


def test_each_record_is_its_own_gzip_member_so_a_cut_file_keeps_what_came_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "probe.warc.gz"
    warc = _recorder(path)
    _record(warc, "http://portal.test/one", b"one", {})
    size_after_first = path.stat().st_size
    _record(warc, "http://portal.test/two", b"two" * 1000, {})
    warc.spider_closed()
    # a probe killed while writing the second exchange
    data = path.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: size_after_first + 40])
    assert [r.url for r in warc_responses(cut)] == ["http://portal.test/one"]
    assert [r.url for r in warc_responses(path)] == [
        "http://portal.test/one",
        "http://portal.test/two",
    ]


def test_a_compressed_response_is_archived_as_sent_and_read_back_decoded(tmp_path: Path) -> None:
    path = tmp_path / "probe.warc.gz"
    warc = _recorder(path)
    sent = gzip.compress(PAGE.encode("utf-8"))
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Encoding": "gzip",
        "Transfer-Encoding": "chunked",
    }
    _record(warc, "http://portal.test/w/a", sent, headers)
    warc.spider_closed()
    with path.open("rb") as stream:
        record = next(r for r in ArchiveIterator(stream) if r.rec_type == "response")
        # the body as it came, its encoding named; the chunking Twisted undid is not claimed
        assert record.http_headers.get_header("Content-Encoding") == "gzip"
        assert record.http_headers.get_header("Transfer-Encoding") is None
        assert record.http_headers.get_header("Content-Length") == str(len(sent))
        assert record.raw_stream.read() == sent
    page = warc_pages(path)["http://portal.test/w/a"]
    assert isinstance(page, HtmlResponse)
    assert page.text == PAGE
    assert parse_article(page.text, page.url).title == "Tiêu đề"


def test_the_warc_tools_accept_the_file(tmp_path: Path) -> None:
    path = tmp_path / "probe.warc.gz"
    warc = _recorder(path)
    _record(warc, "http://portal.test/", PAGE.encode(), {})
    warc.spider_closed()
    warcio = Path(sys.executable).with_name("warcio")
    check = subprocess.run(
        [str(warcio), "check", "-v", str(path)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    index = subprocess.run(
        [str(warcio), "index", str(path)], capture_output=True, text=True, check=True
    )
    assert index.stdout.count('"warc-type": "response"') == 1


def test_a_warc_record_that_cannot_be_written_fails_the_probe_and_stops_its_archiving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _recorder(tmp_path / "probe.warc.gz")
    crawler = recorder.crawler
    request, response = _exchange("http://portal.test/", PAGE.encode(), {})
    assert recorder.process_response(request, response) is response

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    assert recorder.writer is not None
    monkeypatch.setattr(recorder.writer, "write", disk_full)
    with pytest.raises(IgnoreRequest):
        recorder.process_response(request, response)
    # the page is not passed on as if archived, nor any after it
    with pytest.raises(IgnoreRequest):
        recorder.process_response(request, response)
    assert crawler.stats is not None
    assert recorded_failures(crawler.stats.get_stats()) == [
        f"the WARC file {tmp_path / 'probe.warc.gz'} cannot be written: No space left on device"
    ]
    # the exchange written before the failure stays readable
    assert [r.url for r in warc_responses(tmp_path / "probe.warc.gz")] == ["http://portal.test/"]


# --- layers the parser reports ----------------------------------------------------------------


def test_the_parser_names_the_layer_of_the_summary_tags_images_and_locale() -> None:
    html = (
        "<html><head><meta property='og:locale' content='en_US'>"
        "<meta name='keywords' content='trade, zones'>"
        "<meta property='og:image' content='/img/lead.jpg'></head><body>"
        "<h1>Title</h1><div class='journal-content-article'>"
        "<p class='q1-lead'>The lead of the story, as the template prints it.</p>"
        "<p>" + "Body text of the article. " * 10 + "</p><p>Second paragraph of the body.</p>"
        "</div></body></html>"
    )
    profile = profile_from_dict(
        {
            "name": "q1",
            "base_url": "https://q1.example.gov.vn",
            "selectors": {"summary": [".q1-lead"]},
        },
        "<test>",
    )
    page = parse_article(html, "https://q1.example.gov.vn/w/x", profile.parser_config())
    assert page.summary == "The lead of the story, as the template prints it."
    assert page.layers["summary"] == "profile:.q1-lead"
    assert (page.tags, page.layers["tags"]) == (["trade", "zones"], "meta:keywords")
    assert page.layers["images"] == "og:image"
    assert (page.locale, page.layers["locale"]) == ("en-US", "og:locale")
    assert "attachments" not in page.layers  # no value, no layer


# --- the coverage verdict ---------------------------------------------------------------------


def _findings(*covered: list[str]) -> Findings:
    findings = Findings(base_url="http://p.test", site="p", profile=None, delay=0, budget=20)
    for n, fields in enumerate(covered):
        findings.articles[f"http://p.test/w/{n}"] = ArticleSeen(
            url=f"http://p.test/w/{n}",
            layers={"title": "css:h1"},
            present=set(fields),
            covered=fields,
        )
    return findings


def test_the_coverage_verdict_is_the_ledgers_check_under_the_crawls_thresholds() -> None:
    settings = Settings(
        {"COVERAGE_THRESHOLDS": {"title": 0.98, "author": 0.6}, "COVERAGE_MIN_ARTICLES": 5}
    )
    full = ["title", "published_at", "body_text", "author"]
    verdict = coverage_verdict(_findings(*[full] * 3, *[["title"]] * 3), settings)
    assert verdict.shares == {"title": 1.0, "author": 0.5}
    assert len(verdict.reasons) == 1 and "coverage of author is 50.0%" in verdict.reasons[0]
    assert verdict.line.startswith("a crawl would FAIL its coverage check")
    passing = coverage_verdict(_findings(*[full] * 6), settings)
    assert passing.reasons == [] and passing.line.startswith("a crawl would pass")


def test_too_few_articles_are_not_judged_and_the_verdict_says_so() -> None:
    settings = Settings({"COVERAGE_THRESHOLDS": {"title": 0.98}, "COVERAGE_MIN_ARTICLES": 5})
    verdict = coverage_verdict(_findings(["title"], []), settings)
    assert not verdict.judged
    assert verdict.line == "not judged: 2 article(s) parsed, fewer than COVERAGE_MIN_ARTICLES=5"


def test_a_field_without_a_value_counts_under_none() -> None:
    table = field_layers(_findings(["title"], []))
    filled, layers = table["title"]
    assert filled == 1 and layers == {"css:h1": 2}
    assert table["author"] == (0, {"(none)": 2})


# --- bad usage: one line, exit 2 --------------------------------------------------------------


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "probe", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _refused(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """``scrapy probe ARGS`` in this process (a refusal comes before any crawl starts): the
    exit status, stdout and stderr."""
    monkeypatch.setenv("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    monkeypatch.chdir(PROJECT_ROOT)
    with pytest.raises(SystemExit) as stopped:
        execute(["scrapy", "probe", *args])
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "give one portal"),
        (("http://a.test", "http://b.test"), "give one portal"),
        (("no-such-site",), "is not a known site profile"),
        (("Not A Name",), "is not a site name"),
        (("http://a.test/web/guest",), "has a path"),
        (("http://a.test", "--pages", "0"), "--pages 0"),
        (("http://a.test", "--pages", "many"), "--pages many"),
        (("http://a.test", "-a", "full=1"), "unknown argument -a full"),
        (("http://a.test", "-a", "base_url=http://b.test"), "give the address once"),
        (("http://a.test", "-a", "timezone=Mars/Base"), "Mars/Base"),
        (("http://a.test", "-s", "DOWNLOAD_DELAY=soon"), "DOWNLOAD_DELAY"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    args: tuple[str, ...],
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = _refused(args, monkeypatch, capsys)
    assert status == 2, err
    (line,) = err.splitlines()
    assert line.startswith("scrapy probe: error: ") and says in line
    assert out == ""


def test_bad_usage_from_the_command_line_is_one_line_and_exit_2() -> None:
    # the whole path once, as an operator meets it: a process of its own
    result = _probe("http://a.test", "--pages", "0")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "scrapy probe: error: --pages 0: expected a whole number from 1 to 1000"
    ]


def test_a_warc_place_that_cannot_be_created_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    args = ("http://a.test", "--warc", str(blocker / "x.warc.gz"))
    status, _, err = _refused(args, monkeypatch, capsys)
    assert status == 2
    (line,) = err.splitlines()
    assert "the directory of the WARC file" in line and "cannot be created" in line


def test_loading_the_scrapy_commands_does_not_import_the_probe_s_spider_or_warcio() -> None:
    # Scrapy imports every command module for every command: `scrapy runs` must not pay for
    # the probe's spider (the crawl's spider and pipelines) and warcio, about a second.
    check = (
        "import sys\n"
        "from scrapy.utils.misc import walk_modules\n"
        "walk_modules('crawler.commands')\n"
        "assert 'crawler.commands.probe' in sys.modules\n"
        "print(sorted(m for m in sys.modules if m.startswith(('crawler.probe.', 'warcio'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", check],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_an_unreachable_site_is_one_of_the_failures_that_mean_no_portal():
    assert UNREACHABLE in NO_PORTAL
