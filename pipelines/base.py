"""What every normalizing pipeline shares: built from the crawler's stats, it works on
``ArticleItem`` records through an ``ItemAdapter`` and lets every other item pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from itemadapter import ItemAdapter

from crawler.items import ArticleItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector


# The last item given an adapter and that adapter: an item goes through the pipelines one
# after the other, and building an ItemAdapter (picking its adapter class, listing the
# dataclass's fields) costs each of them microseconds per item. It holds no state of its own.
_last_adapter: tuple[object, ItemAdapter] | None = None


def adapter_of(item: object) -> ItemAdapter:
    """``ItemAdapter(item)``, shared by the pipelines that read the same item in turn."""
    global _last_adapter  # noqa: PLW0603 (one slot, replaced per item)
    last = _last_adapter
    if last is not None and last[0] is item:
        return last[1]
    adapter = ItemAdapter(item)
    _last_adapter = (item, adapter)
    return adapter


class ArticlePipeline:
    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleItem):
            self.process_article(adapter_of(item))
        return item

    def process_article(self, adapter: ItemAdapter) -> None:
        raise NotImplementedError
