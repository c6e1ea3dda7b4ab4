"""The domain: what an article, its identity, its dates and its text are, and the codes of
what can go wrong, as plain Python. It needs no Scrapy and imports neither the crawl
(``crawler/*``) nor the pipelines; both import it (``make lint`` checks it, import-linter)."""
