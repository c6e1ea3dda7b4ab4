from __future__ import annotations
import json, sys
from pathlib import Path
import tests.benchmarks.cluster as cl
size = int(sys.argv[1]); workers = [int(w) for w in sys.argv[2].split(",")]
res = cl.bench_cluster_size(size, workers, Path(sys.argv[3]), 2)
for run in res["runs"]:
    r = run.get("redis", {})
    print(json.dumps({k: run.get(k) for k in ("workers", "wall_s", "articles_per_s", "requests", "ok", "error")}), r.get("commands_per_url"), r.get("urls_met"), r.get("used_kb_per_1000_urls"), cl.peak_per_1000(r) if r else None)
    print(r.get("keys_kb_by_kind"))
