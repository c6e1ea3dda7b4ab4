"""Cluster mode: many worker processes, on any number of machines, crawl the sites of one crawl
together through Redis (shared queue, duplicate filter, frontier state and per-host politeness)
and store into one PostgreSQL database."""
