"""Rate limits shared by the workers: ``QA_RATE_LIMIT_STORAGE=redis://...`` against a real
``redis-server``, with the real server (``qa-service serve``, two workers). With redis, a client over
its limit gets 429 whichever worker it reaches; with ``memory://`` each worker counts on its own and
the same client gets up to twice its budget (the reason to use redis with more than one worker).

Which worker answered each request is read from the access log (worker pid and request id).
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from .servers import Service, running_redis, running_service

pytestmark = pytest.mark.slow

LIMIT = 5
REQUESTS = 30


def burst(service: Service) -> list[tuple[int, int, dict]]:
    """REQUESTS questions from one client, a few at a time: (status, worker pid, headers) of each."""
    ids = [f"rl-{n}-{uuid.uuid4().hex[:8]}" for n in range(REQUESTS)]

    def ask(rid: str):
        return service.call("GET", "/api/v1/ask?question=terrorism", headers={"X-Request-ID": rid})

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(ask, ids))
    served = service.served_by(wait_for=ids)
    return [(status, served[rid][0], headers) for rid, (status, headers, _) in zip(ids, answers)]


def test_with_redis_the_workers_share_one_budget(settings, retriever, tmp_path):
    with (
        running_redis(tmp_path) as uri,
        running_service(
            settings, tmp_path, workers=2, QA_RATE_LIMIT=f"{LIMIT}/minute", QA_RATE_LIMIT_STORAGE=uri
        ) as service,
    ):
        results = burst(service)
        statuses = [status for status, _, _ in results]
        assert statuses.count(200) == LIMIT, statuses
        assert statuses.count(429) == REQUESTS - LIMIT
        refused_by = {pid for status, pid, _ in results if status == 429}
        assert len(refused_by) == 2, "both workers refuse the client once the shared budget is spent"
        refused = next(headers for status, _, headers in results if status == 429)
        assert int(refused["Retry-After"]) > 0
        # The counters live in redis: a fresh client of the same redis sees them.
        import redis

        assert any(b"LIMITS" in key or b"limit" in key.lower() for key in redis.Redis.from_url(uri).keys("*"))

        status, _, body = service.call("GET", "/api/v1/ask?question=terrorism")
        assert status == 429 and json.loads(body)["error"]["code"] == "too_many_requests"
        assert service.call("GET", "/healthz")[0] == 200  # probes are never limited


def test_with_memory_storage_each_worker_counts_on_its_own(settings, retriever, tmp_path):
    with running_service(
        settings, tmp_path, workers=2, QA_RATE_LIMIT=f"{LIMIT}/minute", QA_RATE_LIMIT_STORAGE="memory://"
    ) as service:
        results = burst(service)
        allowed = [pid for status, pid, _ in results if status == 200]
        assert len(set(allowed)) == 2, "both workers took requests"
        # Each worker let the client through LIMIT times: twice the budget in all.
        assert len(allowed) == 2 * LIMIT
        assert all(allowed.count(pid) == LIMIT for pid in set(allowed))
