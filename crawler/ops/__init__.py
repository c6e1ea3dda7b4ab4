"""The operators' commands outside Scrapy's: ``hepza-run`` (cron), ``make browse`` (Datasette),
and the base of the database commands."""
