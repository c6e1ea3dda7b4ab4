"""Cluster mode: one crawl of many sites shared by worker processes on any number of machines.

``scrapy cluster start --site A --site B`` writes the crawl into Redis (its meta, the current
crawl) and prints its id; ``scrapy cluster work`` runs, in one process, one crawler per site of
the crawl. The crawlers of every worker share, per site, one request queue with leases (a
request popped by a worker is leased to it until its whole output is processed; a killed
worker's leases expire and go back to the queue), one duplicate filter and the frontier's state,
all in Redis (``CLUSTER_REDIS_URL``); the articles go to the one database (``DATABASE_URL``).
A site is done when its queue and its leases are empty everywhere; the crawl is done when every
site is. ``scrapy cluster status`` shows where a crawl stands.
"""

# request.meta key set on a request whose lease was put back in the queue (its worker was killed
# or stopped before the request's output was processed): its callback runs again
# (crawler/crawl/redelivery.py, where the key is defined).
from crawler.crawl.redelivery import REDELIVERED_META

__all__ = ["REDELIVERED_META"]
