"""`relay serve` and the garbage collector (issue 17: no 30-45 ms full collections)."""

from __future__ import annotations


def test_serving_freezes_the_startup_heap() -> None:
    """`relay serve` freezes what startup built: a full collection no longer walks it."""
    import gc

    from relay.cli.service import freeze_startup_heap

    before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > max(before, 1000)
    finally:
        gc.unfreeze()
