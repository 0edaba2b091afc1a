"""The server's long-lived objects are kept out of the collector's full passes."""

from __future__ import annotations

import gc
import weakref

from qm_jupyter.server.heap import freeze_long_lived


class _Node:
    pass


def _garbage_cycle() -> weakref.ref:
    node = _Node()
    node.self = node  # only a collection frees it
    return weakref.ref(node)


def test_garbage_is_collected_and_survivors_frozen():
    gc.unfreeze()
    garbage = _garbage_cycle()
    kept = _Node()
    try:
        freeze_long_lived()
        assert garbage() is None  # collected first, not frozen with the rest
        assert gc.get_freeze_count() > 0
        assert not any(obj is kept for obj in gc.get_objects())  # out of every generation
    finally:
        gc.unfreeze()


async def test_the_started_extension_freezes_the_heap(jp_serverapp):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        await jp_serverapp.extension_manager.start_all_extensions()  # as the running server does
        assert gc.get_freeze_count() > 100_000  # jupyter_server, pandas, numpy...
    finally:
        gc.unfreeze()
        (extension,) = jp_serverapp.extension_manager.extension_apps["qm_jupyter"]
        await extension.stop_extension()
