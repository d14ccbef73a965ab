"""Where the hashing runs: processes of this machine, or Ray tasks on a cluster.

Both yield one output record per file, as files finish; the order may differ from the
input order with Ray (the output file is keyed by path, so that does not matter).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from cordon.cli.hash_cmd import hash_items
from cordon.errors import CordonError
from cordon.inputs import InputItem
from cordon.scan.worker import ScanSpec, ScanWorker


def _error_record(item: InputItem) -> dict[str, Any]:
    return {"path": item.display, "content_type": None, "signals": {}, "matches": [],
            "error": item.error}


def scan_local(
    worker: ScanWorker, items: Sequence[InputItem], jobs: int
) -> Iterator[dict[str, Any]]:
    """Hash in `jobs` processes, match here: the matcher is loaded once, in this process."""
    for result in hash_items(items, worker.selection, worker.spec.options, jobs):
        yield worker.record(result)


class _RayScanner:
    """A Ray actor: loads the matcher once, then scans batch after batch."""

    def __init__(self, spec: ScanSpec) -> None:
        self.worker = ScanWorker(spec)

    def scan(self, batch: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return self.worker.scan(batch)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise CordonError(
            "--engine ray needs Ray: pip install 'cordon[ray]' (or pip install ray)"
        ) from None
    return ray


def scan_ray(
    spec: ScanSpec,
    items: Sequence[InputItem],
    jobs: int,
    address: str | None,
    batch_size: int = 32,
) -> Iterator[dict[str, Any]]:
    """Scan on Ray: `jobs` actors (each holding one matcher) pull batches of paths.

    With `address` the scan joins that cluster (paths and the database must be reachable from
    its nodes); without, it starts a local instance with `jobs` CPUs.
    """
    ray = _import_ray()
    from ray.util import ActorPool

    for item in items:
        if item.path is None:
            yield _error_record(item)
    work = [(str(i.path), i.display) for i in items if i.path is not None]
    if not work:
        return
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            else:
                ray.init(num_cpus=jobs, include_dashboard=False, logging_level="ERROR",
                         log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise CordonError(f"cannot start or join Ray ({address or 'local'}): {exc}") from None
    try:
        actor = ray.remote(num_cpus=1)(_RayScanner)
        actors = [actor.remote(spec) for _ in range(max(1, jobs))]
        pool = ActorPool(actors)
        # Small batches keep the bar moving and bound the work lost to an interruption.
        size = max(1, min(batch_size, len(work) // (4 * len(actors)) or 1))
        batches = [work[i:i + size] for i in range(0, len(work), size)]
        for records in pool.map_unordered(lambda a, b: a.scan.remote(b), batches):
            yield from records
    finally:
        if started:
            ray.shutdown()
