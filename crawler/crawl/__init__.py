"""The crawl's machinery: what to fetch next (the frontier and its state), the bounds every crawl
keeps, back-pressure, streamed sitemaps and feeds published on commit."""
