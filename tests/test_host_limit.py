"""The cluster's per-host limit middleware (crawler/cluster/host_limit.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawler.cluster.host_limit import (
    SLOT_META,
    ClusterHostLimitMiddleware,
    HostLimiterUnavailable,
    hand_politeness_to_cluster,
)
from crawler.cluster.limiter import HostLimits
from crawler.domain.outcome import FAILURE_PREFIX
from crawler.setup.config import ConfigError
from tests.crawl_runner import PROJECT_ROOT

URL = "https://portal.example.gov.vn/w/tin-tuc"


def middleware(settings: dict[str, object]) -> ClusterHostLimitMiddleware:
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()  # type: ignore[union-attr]
    return ClusterHostLimitMiddleware.from_crawler(crawler)


def test_a_plain_crawl_has_no_cluster_limit_and_no_warning_about_it() -> None:
    # A NotConfigured with a reason is logged by Scrapy as a "Disabled ..." WARNING.
    with pytest.raises(NotConfigured) as caught:
        middleware({})
    assert caught.value.args == ()


def test_a_plain_crawl_imports_no_redis() -> None:
    code = (
        "import sys\n"
        "import crawler.settings, crawler.spiders.liferay, crawler.cluster.host_limit\n"
        "import crawler.cluster.addon\n"
        "assert 'redis' not in sys.modules, 'redis imported'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_cluster_mode_moves_the_site_s_politeness_to_the_cluster() -> None:
    settings = Settings({"CONCURRENT_REQUESTS_PER_DOMAIN": 3, "DOWNLOAD_DELAY": 1.5})
    settings.set("AUTOTHROTTLE_ENABLED", True)
    hand_politeness_to_cluster(settings)
    assert settings.getint("CLUSTER_HOST_CONCURRENCY") == 3
    assert settings.getfloat("CLUSTER_HOST_DELAY") == 1.5
    assert settings.getfloat("DOWNLOAD_DELAY") == 0
    assert not settings.getbool("AUTOTHROTTLE_ENABLED")


def test_cluster_limits_given_explicitly_are_kept() -> None:
    settings = Settings(
        {"DOWNLOAD_DELAY": 1.5, "CLUSTER_HOST_DELAY": 4, "CLUSTER_HOST_CONCURRENCY": 1}
    )
    hand_politeness_to_cluster(settings)
    assert settings.getfloat("CLUSTER_HOST_DELAY") == 4
    assert settings.getint("CLUSTER_HOST_CONCURRENCY") == 1


def test_limits_default_to_the_site_s_politeness() -> None:
    mw = middleware(
        {
            "CLUSTER_REDIS_URL": "redis://127.0.0.1:1/0",
            "CONCURRENT_REQUESTS_PER_DOMAIN": 3,
            "DOWNLOAD_DELAY": 0.7,
        }
    )
    assert (mw.concurrency, mw.delay) == (3, 0.7)


def test_a_cluster_concurrency_under_one_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match="CLUSTER_HOST_CONCURRENCY='0' is out of range"):
        middleware({"CLUSTER_REDIS_URL": "redis://127.0.0.1:1/0", "CLUSTER_HOST_CONCURRENCY": "0"})


@pytest.mark.redis
def test_a_response_and_an_exception_each_release_the_request_s_slot(redis_url: str) -> None:
    mw = middleware({"CLUSTER_REDIS_URL": redis_url, "CLUSTER_HOST_DELAY": "0"})
    limits = HostLimits(concurrency=2, delay=0.0, lease_seconds=60)
    answered, failed = Request(URL), Request(URL)
    for request in (answered, failed):
        token = mw.limiter.acquire("portal.example.gov.vn", limits).token
        request.meta[SLOT_META] = ("portal.example.gov.vn", token)
    assert mw.limiter.in_flight("portal.example.gov.vn") == 2
    mw.process_response(answered, Response(URL, request=answered))
    mw.process_exception(failed, TimeoutError("timed out"))
    assert mw.limiter.in_flight("portal.example.gov.vn") == 0
    assert SLOT_META not in answered.meta
    assert SLOT_META not in failed.meta


@pytest.mark.redis
def test_a_granted_request_carries_its_slot_until_its_response(redis_url: str) -> None:
    mw = middleware({"CLUSTER_REDIS_URL": redis_url, "CLUSTER_HOST_DELAY": "0"})
    request = Request(URL)
    asyncio.run(mw.process_request(request))
    assert request.meta[SLOT_META][0] == "portal.example.gov.vn"
    assert mw.limiter.in_flight("portal.example.gov.vn") == 1
    mw.process_response(request, Response(URL, request=request))
    assert mw.limiter.in_flight("portal.example.gov.vn") == 0


def test_redis_unreachable_refuses_the_request_and_fails_the_run() -> None:
    mw = middleware(
        {"CLUSTER_REDIS_URL": "redis://127.0.0.1:1/0", "CLUSTER_REDIS_RETRY_SECONDS": "0"}
    )
    with pytest.raises(HostLimiterUnavailable, match="lost Redis"):
        asyncio.run(mw.process_request(Request(URL)))
    stats = mw.crawler.stats
    assert stats is not None
    assert stats.get_value(f"{FAILURE_PREFIX}redis_unavailable") == 1
