"""Articles, their URLs and versions, and crawl runs in SQLite or PostgreSQL."""
