"""The WARC archive of a run: every request and response the crawl exchanged with the site.

``writer.py`` writes WARC files (ISO 28500, WARC/1.1, with ``warcio``): one set per run, one
gzip member per record, rotated at a size. ``digests.py`` keeps, per site, the payload digest of
the newest full copy of every URL, so an unchanged page seen again is a ``revisit`` record, and
which run sets revisit records still refer to, so retention never removes a copy that a kept
record needs. Plain Python and warcio: no Scrapy (the crawl's side is
``crawler/extensions/archive.py``). docs/archive.md describes the files and how to replay them.
"""
