from __future__ import annotations

import inspect

from scrapy.utils.misc import load_object
from scrapy.utils.project import get_project_settings


def test_item_pipelines_are_synchronous_so_one_concurrent_item_loses_nothing() -> None:
    settings = get_project_settings()
    assert settings.getint("CONCURRENT_ITEMS") == 1
    for path in settings.getdict("ITEM_PIPELINES"):
        process_item = load_object(path).process_item
        assert not inspect.iscoroutinefunction(process_item), path
        assert not inspect.isasyncgenfunction(process_item), path
