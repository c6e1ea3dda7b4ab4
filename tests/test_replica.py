from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import time
import unicodedata
import urllib.request
import urllib.robotparser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import lxml.etree
import lxml.html
import pytest
from protego import Protego

from tests.replica import ReplicaConfig, ReplicaServer, ReplicaSite
from tests.replica.content import SEED_TEXT_PATH
from tests.replica.site import FAULT_KINDS, NON_ARTICLE_BY_KIND, fault_for
from tests.replica.structure import CATEGORY_BY_KEY, DISPLAY, LOGIN_URL

# The seed article as published on the real site, byte for byte: the oracle the replica's own
# copy (tests/replica/seed-article.txt) and its rendered page are checked against.
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference" / "seed-article.txt"
BASE = "https://hepza.hochiminhcity.gov.vn"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "div", "li", "ul", "figure", "figcaption", "section"}


@pytest.fixture(scope="module")
def site() -> ReplicaSite:
    return ReplicaSite(ReplicaConfig())


@pytest.fixture(scope="module")
def truth(site: ReplicaSite) -> dict:
    return site.truth()


def get(site: ReplicaSite, path: str, attempt: int = 1) -> tuple[int, str]:
    resp = site.handle("GET", path, attempt, base_url=BASE)
    return resp.status, resp.body.decode("utf-8")


def visible_lines(html: str) -> list[str]:
    """Text of section#content block by block, as a reader sees it (folded whitespace)."""
    doc = lxml.html.fromstring(html)
    content = doc.cssselect("section#content")[0]
    for bad in content.cssselect("script, style, .hide-accessible"):
        bad.drop_tree()
    chunks: list[str] = []

    def walk(el: lxml.html.HtmlElement) -> None:
        block = el.tag in BLOCK_TAGS
        if block:
            chunks.append("\n")
        if el.text:
            chunks.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                chunks.append(child.tail)
        if block:
            chunks.append("\n")

    walk(content)
    lines = ("".join(chunks)).split("\n")
    return [" ".join(line.split()) for line in lines if line.split()]


def reference_lines() -> list[str]:
    return [
        " ".join(line.split())
        for line in REFERENCE.read_text(encoding="utf-8").split("\n")
        if line.split()
    ]


def seed_article(truth: dict) -> dict:
    return next(a for a in truth["articles"] if a["variant"] == "seed")


# --- determinism -------------------------------------------------------------------------------


def test_same_config_gives_byte_identical_site(site: ReplicaSite, truth: dict) -> None:
    other = ReplicaSite(ReplicaConfig())
    seed = seed_article(truth)
    for path in ["/", "/sitemap.xml", seed["canonical_path"], "/thong-bao", "/robots.txt"]:
        assert site.handle("GET", path, 1).body == other.handle("GET", path, 1).body
    assert json.dumps(other.truth(), sort_keys=True) == json.dumps(truth, sort_keys=True)


def test_other_rng_seed_changes_generated_articles(truth: dict) -> None:
    other = ReplicaSite(ReplicaConfig(seed=7)).truth()
    assert [a["title"] for a in other["articles"][5:]] != [
        a["title"] for a in truth["articles"][5:]
    ]
    assert seed_article(other)["title"] == seed_article(truth)["title"]


# --- the seed article --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "date_line"), [("/en", "1/18/23 5:48 PM"), ("", "17:48 18/01/2023")]
)
def test_seed_page_text_equals_reference(
    site: ReplicaSite, truth: dict, prefix: str, date_line: str
) -> None:
    status, html = get(site, prefix + seed_article(truth)["canonical_path"])
    expected = reference_lines()
    expected[1] = date_line
    assert status == 200
    assert visible_lines(html)[: len(expected)] == expected


def test_seed_page_keeps_no_break_space_paragraphs(site: ReplicaSite, truth: dict) -> None:
    _, html = get(site, "/en" + seed_article(truth)["canonical_path"])
    assert html.count("<p>&nbsp;</p>") == 2
    assert "hình thức. &nbsp;&nbsp; Công tác tổ chức" in html
    doc = lxml.html.fromstring(html)
    assert doc.cssselect("h1.component-heading")[0].text_content() == seed_article(truth)["title"]
    assert doc.get("lang") == "en-US"


def test_seed_truth(truth: dict) -> None:
    seed = seed_article(truth)
    reference = reference_lines()
    assert seed["title"] == reference[0]
    assert seed["published_at"] == "2023-01-18T17:48:00+07:00"
    assert seed["author"] == "Minh Trí"
    assert seed["language"] == "vi-VN"
    assert seed["body_paragraphs"] == [
        " ".join(unicodedata.normalize("NFC", p).split()) for p in reference[4:-2]
    ]
    assert seed["summary"].startswith(reference[3].removesuffix("..."))
    assert seed["canonical_path"] in seed["paths"]
    assert "/en" + seed["canonical_path"] in seed["paths"]


def test_seed_head_has_seo_links_and_full_description(site: ReplicaSite, truth: dict) -> None:
    seed = seed_article(truth)
    _, html = get(site, seed["canonical_path"])
    doc = lxml.html.fromstring(html)
    assert doc.cssselect('link[rel="canonical"]')[0].get("href") == BASE + seed["canonical_path"]
    langs = {e.get("hreflang"): e.get("href") for e in doc.cssselect('link[rel="alternate"]')}
    assert langs["en-US"] == BASE + "/en" + seed["canonical_path"]
    assert langs["x-default"] == BASE + seed["canonical_path"]
    og = {e.get("property"): e.get("content") for e in doc.cssselect("meta[property]")}
    assert og["og:description"] == seed["summary"]
    assert og["og:locale"] == "vi_VN"
    assert doc.findtext(".//title").startswith(seed["title"] + " - HEPZA - ")


# --- listings ----------------------------------------------------------------------------------


def next_link(doc: lxml.html.HtmlElement) -> str | None:
    for a in doc.cssselect('ul.lfr-pagination-buttons.pager > li[class=""] > a'):
        if a.text_content().strip() in ("Tiếp theo", "Next"):
            return a.get("href")
    return None


def entry_links(doc: lxml.html.HtmlElement) -> list[str]:
    portlet = doc.cssselect("section#content .portlet-asset-publisher .portlet-body")[0]
    return [
        a.get("href")
        for a in portlet.cssselect(
            "a.asset-title, .asset-details a, p.list-group-title a, .asset-abstract h4 a"
        )
    ]


def slug_of(href: str) -> str:
    path = urlsplit(href).path.split(";")[0]
    return unquote(path.rsplit("/", 1)[1])


@pytest.mark.parametrize("prefix", ["", "/en"])
def test_paging_reaches_every_article_once_per_category(
    site: ReplicaSite, truth: dict, prefix: str
) -> None:
    by_slug = {unquote(a["slug"]): a["number"] for a in truth["articles"]}
    for category in truth["categories"]:
        url: str | None = prefix + category["path"]
        seen: list[int] = []
        pages = 0
        while url:
            status, html = get(site, url.removeprefix(BASE))
            assert status == 200
            doc = lxml.html.fromstring(html)
            seen += [by_slug[slug_of(h)] for h in entry_links(doc)]
            url = next_link(doc)
            pages += 1
            assert pages <= category["pages"]
        assert pages == category["pages"] > 2
        assert seen == category["article_numbers"]
        assert len(set(seen)) == len(seen)


def test_listing_markup_variants(site: ReplicaSite) -> None:
    regular = CATEGORY_BY_KEY["tin-hoat-dong"]
    _, html = get(site, site.page_path(regular, 2, ""))
    doc = lxml.html.fromstring(html)
    assert doc.cssselect(".taglib-page-iterator .lfr-pagination-page-selector")
    assert re.search(r"Hiển thị 6 - 10 của \d+ kết quả\.", html)
    assert "&amp;p_r_p_resetCur=false&amp;_" + regular.portlet_id + "_cur=3" in html
    assert re.search(r'<span class="date-info">Đăng ngày \d\d/\d\d/\d{4}</span>', html)
    assert 'type="application/atom+xml"' in html
    simple = CATEGORY_BY_KEY["tin-doanh-nghiep"]
    last = -(-len(site.listings[simple.key]) // site.config.delta)
    _, html = get(site, site.page_path(simple, last, ""))
    doc = lxml.html.fromstring(html)
    assert not doc.cssselect(".taglib-page-iterator")
    disabled = doc.cssselect("ul.lfr-pagination-buttons > li.disabled > a")
    assert [a.text for a in disabled] == ["Tiếp theo"]
    assert disabled[0].get("href") == "javascript:;"
    assert re.search(r"\d\d:\d\d Ngày \d{1,2} tháng \d{1,2} năm \d{4}", html)
    assert ";jsessionid=" in html
    _, html = get(site, "/en" + site.page_path(simple, 1, ""))
    assert re.search(r"[A-Z][a-z]+ \d{1,2}, \d{4} \d{1,2}:\d\d [AP]M", html)
    old = CATEGORY_BY_KEY["hoat-dong-dang-doan-the"]
    _, html = get(site, old.linked)
    doc = lxml.html.fromstring(html)
    assert doc.cssselect("h4.asset-title.component-title")
    assert not doc.cssselect("h4.asset-title a")
    assert "/-/asset_publisher/ufow/content/" in html


def test_asset_publisher_content_view_points_to_display_page(
    site: ReplicaSite, truth: dict
) -> None:
    seed = seed_article(truth)
    content = [p for p in seed["paths"] if "/-/asset_publisher/" in p and not p.startswith("/en")]
    assert content
    for path in content:
        status, html = get(site, path)
        doc = lxml.html.fromstring(html)
        assert status == 200
        assert (
            doc.cssselect('link[rel="canonical"]')[0].get("href") == BASE + seed["canonical_path"]
        )
        assert doc.cssselect(".asset-full-content .journal-content-article")


def test_every_truth_path_answers_with_its_article(site: ReplicaSite, truth: dict) -> None:
    for article in truth["articles"]:
        for path in article["paths"]:
            status, html = get(site, path)
            assert status == 200, path
            assert unicodedata.normalize("NFC", html).count(article["title"]) >= 2, path


# --- sitemaps, robots, feed -------------------------------------------------------------------


def test_sitemap_index_and_articles_in_both_locales(site: ReplicaSite, truth: dict) -> None:
    status, index_xml = get(site, "/sitemap.xml")
    index = lxml.etree.fromstring(index_xml.encode())
    assert status == 200 and index.tag == SM + "sitemapindex"
    assert not index.findall(f".//{SM}lastmod")
    locs: set[str] = set()
    lastmods: dict[str, str] = {}
    for loc in index.findall(f"./{SM}sitemap/{SM}loc"):
        assert loc.text.startswith(BASE + "/sitemap.xml?p_l_id=")
        _, sub_xml = get(site, loc.text.removeprefix(BASE))
        urlset = lxml.etree.fromstring(sub_xml.encode())
        assert urlset.tag == SM + "urlset"
        for url in urlset.findall(f"{SM}url"):
            assert re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", url.findtext(f"{SM}lastmod")
            )
            hreflangs = {
                e.get("hreflang") for e in url.findall("{http://www.w3.org/1999/xhtml}link")
            }
            assert hreflangs == {"en-US", "vi-VN", "x-default"}
            locs.add(url.findtext(f"{SM}loc"))
            lastmods[url.findtext(f"{SM}loc")] = url.findtext(f"{SM}lastmod")
    for article in truth["articles"]:
        assert BASE + article["canonical_path"] in locs
        assert BASE + "/en" + article["canonical_path"] in locs
    seed = seed_article(truth)
    assert lastmods[BASE + seed["canonical_path"]] == "2023-01-18T10:48:00+0000"
    assert seed["modified_at"] == "2023-01-18T17:48:00+07:00"


def test_robots_allow_news_for_urllib_and_protego(site: ReplicaSite, truth: dict) -> None:
    _, robots = get(site, "/robots.txt")
    assert f"Sitemap: {BASE}/sitemap.xml" in robots
    stdlib = urllib.robotparser.RobotFileParser()
    stdlib.parse(robots.splitlines())
    protego = Protego.parse(robots)
    news = [p for a in truth["articles"][:10] for p in a["paths"]]
    news += [site.page_path(CATEGORY_BY_KEY[c["key"]], 2, "") for c in truth["categories"]]
    news += [c["path"] for c in truth["categories"]] + ["/", "/sitemap.xml"]
    for path in news:
        assert stdlib.can_fetch("hepza-news-crawler", BASE + path), path
        assert protego.can_fetch(BASE + path, "hepza-news-crawler"), path
    assert not protego.can_fetch(BASE + LOGIN_URL, "hepza-news-crawler")
    assert not protego.can_fetch(BASE + "/c/portal/login", "hepza-news-crawler")


def test_atom_feed_links_display_pages(site: ReplicaSite) -> None:
    lay = CATEGORY_BY_KEY["tin-hoat-dong"]
    status, xml = get(site, lay.linked + site.feed_query(lay))
    feed = lxml.etree.fromstring(xml.encode())
    atom = "{http://www.w3.org/2005/Atom}"
    assert status == 200 and feed.tag == atom + "feed"
    links = [e.get("href") for e in feed.findall(f"{atom}entry/{atom}link")]
    assert links and all(link.startswith(BASE + "/w/") for link in links)


# --- special pages -----------------------------------------------------------------------------


def test_not_found_pages(site: ReplicaSite, truth: dict) -> None:
    status, html = get(site, NON_ARTICLE_BY_KIND["deleted"].path)
    assert status == 404 and "The requested resource could not be found." in html
    status, html = get(site, NON_ARTICLE_BY_KIND["soft404"].path)
    assert status == 200 and "The requested resource could not be found." in html
    status, html = get(site, NON_ARTICLE_BY_KIND["empty_shell"].path)
    doc = lxml.html.fromstring(html)
    assert status == 200 and not doc.cssselect("h1") and doc.findtext(".//title")
    assert get(site, "/w/khong-co-bai-nay")[0] == 404
    assert get(site, "/khong-co-trang-nay")[0] == 404
    seed = seed_article(truth)
    _, html = get(site, seed["canonical_path"])
    assert NON_ARTICLE_BY_KIND["deleted"].path in html
    for path in (n.path for n in NON_ARTICLE_BY_KIND.values()):
        assert path in truth["non_article_paths"]


def test_special_articles(site: ReplicaSite, truth: dict) -> None:
    by_variant = {a["variant"]: a for a in truth["articles"]}
    nfd = by_variant["nfd"]
    _, html = get(site, nfd["canonical_path"])
    assert unicodedata.normalize("NFD", nfd["title"]) in html
    assert nfd["title"] not in html  # the page has only the decomposed form
    hostile = by_variant["hostile_html"]
    _, html = get(site, hostile["canonical_path"])
    for needle in ("<script>document.write", "onclick=", "<iframe", "javascript:alert", "<style>"):
        assert needle in html
    assert all("script" not in p for p in hostile["body_paragraphs"])
    images = by_variant["images_attachments"]
    assert len(images["images"]) == 2 and len(images["attachments"]) == 2
    _, html = get(site, images["canonical_path"])
    assert 'property="og:image"' in html
    for item in images["images"] + images["attachments"]:
        assert item["path"].replace("&", "&amp;") in html
        status = site.handle("GET", item["path"], 1).status
        assert status == 200
    assert by_variant["no_author"]["author"] is None
    wrapped = by_variant["journal_wrapper"]
    assert 'class="journal-content-article "' in get(site, wrapped["canonical_path"])[1]


@pytest.mark.parametrize(
    ("variant", "locale", "pattern"),
    [
        ("cldr17", "", r">\d\d:\d\d, \d\d/\d\d/\d{4}<"),
        ("cldr17", "/en", r">\d{1,2}/\d{1,2}/\d\d, \d{1,2}:\d\d [AP]M<"),
        ("cldr20", "", r">\d\d:\d\d \d{1,2}/\d{1,2}/\d\d<"),
        ("cldr20", "/en", ">\\d{1,2}/\\d{1,2}/\\d\\d, \\d{1,2}:\\d\\d\u202f[AP]M<"),
    ],
)
def test_cldr_date_variants(
    site: ReplicaSite, truth: dict, variant: str, locale: str, pattern: str
) -> None:
    article = next(a for a in truth["articles"] if a["variant"] == variant)
    _, html = get(site, locale + article["canonical_path"])
    assert re.search(pattern, html)
    assert article["date_strings"]["en-US" if locale else "vi-VN"] in html


# --- mutations ---------------------------------------------------------------------------------


def test_extra_articles_are_newest_and_change_no_other_article(
    site: ReplicaSite, truth: dict
) -> None:
    grown = ReplicaSite(ReplicaConfig(extra_articles=3))
    grown_truth = grown.truth()
    old = {a["number"]: a for a in truth["articles"]}
    new = {a["number"]: a for a in grown_truth["articles"]}
    extras = sorted(set(new) - set(old))
    assert len(extras) == 3
    newest = max(a["published_at"] for a in truth["articles"])
    assert all(new[n]["published_at"] > newest for n in extras)
    for number, article in old.items():
        assert {k: v for k, v in new[number].items() if k != "paths"} == {
            k: v for k, v in article.items() if k != "paths"
        }
        assert (
            site.handle("GET", article["canonical_path"], 1).body
            == grown.handle("GET", article["canonical_path"], 1).body
        )
    first = grown_truth["categories"][0]["article_numbers"][:3]
    assert sorted(first) == extras
    _, sitemap = get(grown, "/sitemap.xml?p_l_id=31&layoutUuid=" + _display_uuid())
    assert sitemap.index(new[extras[0]]["slug"]) < sitemap.index(old[1]["slug"])


def _display_uuid() -> str:
    return DISPLAY.uuid + "&groupId=20122&privateLayout=false"


def test_edited_article_changes_only_itself(site: ReplicaSite, truth: dict) -> None:
    edited = ReplicaSite(ReplicaConfig(edited=(7,)))
    before = {a["number"]: a for a in truth["articles"]}
    after = {a["number"]: a for a in edited.truth()["articles"]}
    assert len(after[7]["body_paragraphs"]) == len(before[7]["body_paragraphs"]) + 1
    assert after[7]["modified_at"] > before[7]["modified_at"]
    assert after[7]["published_at"] == before[7]["published_at"]
    for number, article in before.items():
        if number != 7:
            assert after[number] == article
    path = before[8]["canonical_path"]
    assert site.handle("GET", path, 1).body == edited.handle("GET", path, 1).body


def test_broken_date_hides_the_date_but_not_in_listings(truth: dict) -> None:
    broken = ReplicaSite(ReplicaConfig(broken=("date",)))
    seed = seed_article(truth)
    for prefix, shown in (("", "17:48 18/01/2023"), ("/en", "1/18/23 5:48 PM")):
        _, html = get(broken, prefix + seed["canonical_path"])
        text = "\n".join(visible_lines(html))
        assert shown not in html
        assert not re.search(r"\d{1,2}/\d{1,2}/\d{2,4}", text.replace("12/10", ""))
        assert "1674038880000" in html
    lay = CATEGORY_BY_KEY["hoat-dong-dang-doan-the"]
    page = broken.positions[lay.key][seed["number"]] // broken.config.delta + 1
    _, listing = get(broken, broken.page_path(lay, page, ""))
    assert "Ngày đăng: 18/01/2023" in listing


# --- faults and the HTTP server ----------------------------------------------------------------


def test_faults_are_transient_and_deterministic(truth: dict) -> None:
    faulty = ReplicaSite(ReplicaConfig(faults=True))
    paths = [p for a in truth["articles"] for p in a["paths"]]
    kinds = [faulty.handle("GET", p, 1).fault for p in paths]
    again = [ReplicaSite(ReplicaConfig(faults=True)).handle("GET", p, 1).fault for p in paths[:50]]
    assert again == kinds[:50]
    assert set(kinds) == {None, *FAULT_KINDS}
    share = sum(k is not None for k in kinds) / len(kinds)
    assert 0.10 < share < 0.25
    assert all(faulty.handle("GET", p, 2).fault is None for p in paths)
    assert fault_for("/robots.txt", 1) is None
    for p, kind in zip(paths, kinds, strict=True):
        if kind in ("503", "500", "429"):
            resp = faulty.handle("GET", p, 1)
            assert resp.status == int(kind)
            assert (("Retry-After", "1") in resp.headers) == (kind == "429")
            assert faulty.handle("GET", p, 2).status == 200


def test_server_serves_keep_alive_and_acts_out_faults(truth: dict) -> None:
    paths = [p for a in truth["articles"] for p in a["paths"]]
    drop = next(p for p in paths if fault_for(p, 1) == "drop")
    truncated = next(p for p in paths if fault_for(p, 1) == "truncated")
    with ReplicaServer(ReplicaConfig(faults=True)) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        with urllib.request.urlopen(server.url + "/robots.txt") as resp:
            assert f"Sitemap: {server.url}/sitemap.xml" in resp.read().decode()
        host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
        conn = http.client.HTTPConnection(host, port, timeout=5)
        for _ in range(2):
            conn.request("GET", "/robots.txt")
            assert conn.getresponse().read()
        conn.request("GET", truncated)
        with pytest.raises(http.client.IncompleteRead):
            conn.getresponse().read()
        conn.close()
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", drop)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            conn.getresponse()
        conn.close()
        for path in (drop, truncated):
            with urllib.request.urlopen(urljoin(server.url, path)) as resp:
                assert resp.status == 200
        records = list(server.requests)
    assert [r.fault for r in records if r.path_and_query == drop] == ["drop", None]
    assert [r.status for r in records if r.path_and_query == truncated] == [200, 200]
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1).close()


def test_cli_serve_writes_ready_file_logs_and_stops_on_sigterm(tmp_path: Path) -> None:
    ready, log = tmp_path / "ready", tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.replica",
            "serve",
            "--articles",
            "10",
            "--ready-file",
            str(ready),
            "--request-log",
            str(log),
        ],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = ready.read_text().strip()
        with urllib.request.urlopen(url + "/thong-bao") as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.stdout is not None and proc.stdout.read().strip() == url
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == [
        {"method": "GET", "path_and_query": "/thong-bao", "status": 200, "fault": None}
    ]


def test_the_replica_seed_copy_is_the_reference_text() -> None:
    assert REFERENCE.is_file(), f"the reference text is missing: {REFERENCE}"
    assert SEED_TEXT_PATH.read_bytes() == REFERENCE.read_bytes()
