"""Progress reporting kept out of the loop's logic: the CLI passes tqdm bars, tests pass nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class Bar(Protocol):
    def update(self, n: int = 1) -> None: ...


class ProgressFactory(Protocol):
    def __call__(self, desc: str, total: int | None) -> Iterator[Bar]: ...


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass


@contextmanager
def no_progress(desc: str, total: int | None) -> Iterator[Bar]:
    yield _NullBar()


@contextmanager
def tqdm_progress(desc: str, total: int | None) -> Iterator[Bar]:
    from tqdm.auto import tqdm

    with tqdm(desc=desc, total=total, leave=False, dynamic_ncols=True, unit="it") as bar:
        yield bar


def step_callback(bar: Bar) -> Callable[[int, int], None]:
    """Adapt a bar to the ``(done, total)`` callbacks the segmenter calls."""
    seen = 0

    def callback(done: int, total: int) -> None:
        nonlocal seen
        if hasattr(bar, "total") and bar.total != total:
            bar.total = total
        bar.update(done - seen)
        seen = done

    return callback


class _CallbackBar:
    def __init__(self, callback: Callable[[int, int], None], total: int | None):
        self.callback, self.total, self.done = callback, total or 0, 0

    def update(self, n: int = 1) -> None:
        self.done += n
        self.callback(self.done, max(self.total, self.done))


def callback_progress(callback: Callable[[int, int], None] | None) -> ProgressFactory:
    """A factory whose bars report ``(done, total)`` to ``callback`` (what the loop's steps
    hand down), so code written for a factory runs under a callback too."""
    if callback is None:
        return no_progress

    @contextmanager
    def factory(desc: str, total: int | None) -> Iterator[Bar]:
        yield _CallbackBar(callback, total)

    return factory
