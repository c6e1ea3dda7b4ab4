"""A local replica of the HEPZA Liferay DXP 7.4 site, for end-to-end tests and benchmarks."""

from __future__ import annotations

from tests.replica.server import ReplicaServer, RequestRecord
from tests.replica.site import ReplicaConfig, ReplicaResponse, ReplicaSite

__all__ = ["ReplicaConfig", "ReplicaResponse", "ReplicaServer", "ReplicaSite", "RequestRecord"]
