"""Run one function on many items at once (nodes boot, join, snapshot side by side)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, List, Optional, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_all(func: Callable[[T], R], items: Iterable[T], limit: Optional[int] = None) -> List[R]:
    """func(item) for every item concurrently; results in the items' order. Every call finishes
    before the first failure (in the items' order) is raised, so nothing keeps running behind it."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(limit or len(items), len(items))) as pool:
        futures = [pool.submit(func, item) for item in items]
    for future in futures:
        if future.exception() is not None:
            raise future.exception()
    return [future.result() for future in futures]
