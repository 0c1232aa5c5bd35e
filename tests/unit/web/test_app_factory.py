"""The app factory's start-up: objects that live as long as the process leave the cyclic GC."""

from __future__ import annotations

import gc

from cati import main


def test_start_up_objects_are_frozen_unless_switched_off(settings, engine):
    gc.unfreeze()
    try:
        main({}, **settings, **{"cati.engine": engine, "cati.gc_freeze": "false"})
        assert gc.get_freeze_count() == 0
        main({}, **settings, **{"cati.engine": engine})
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # modules, the app's registry, routes, views, mappings
        # what a request creates afterwards is collected as usual
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
