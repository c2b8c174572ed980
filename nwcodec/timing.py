"""One timer for every benchmark: wall and process-CPU seconds, and the best of N runs.

On a shared machine the CPU time is the better estimate of the uncontended single-thread
cost, and the fastest of several runs the least load-biased wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Clock:
    """Wall and process-CPU seconds of a block: ``with Clock() as c: ...`` then ``c.wall``,
    ``c.cpu``; or ``c = Clock().start()`` ... ``c.stop()``."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self._started = (0.0, 0.0)

    def start(self) -> Clock:
        self._started = (time.perf_counter(), time.process_time())
        return self

    def stop(self) -> Clock:
        self.wall = time.perf_counter() - self._started[0]
        self.cpu = time.process_time() - self._started[1]
        return self

    def __enter__(self) -> Clock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def best_of(fn: Callable[[], T], repeats: int, warmup: int = 0) -> tuple[Clock, T]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; the clock of the fastest
    run (by wall time) and the last result."""
    for _ in range(warmup):
        fn()
    best: Clock | None = None
    for _ in range(max(1, repeats)):
        with Clock() as clock:
            out = fn()
        if best is None or clock.wall < best.wall:
            best = clock
    assert best is not None
    return best, out
