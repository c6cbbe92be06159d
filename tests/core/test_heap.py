"""Startup objects are frozen once per process, and ordinary garbage is still collected."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap


def test_freeze_once_per_process_and_cycles_made_later_are_collected() -> None:
    script = textwrap.dedent(
        """
        import gc, weakref
        from haina.core import heap

        frozen = heap.freeze_startup_objects()
        assert frozen > 0 and gc.get_freeze_count() == frozen
        kept = []
        kept.append(kept)  # made after the freeze: still tracked
        again = heap.freeze_startup_objects()
        assert again == frozen, (again, frozen)  # the second call froze nothing new

        class Node:
            pass

        first, second = Node(), Node()
        first.other, second.other = second, first  # a cycle, garbage once dropped
        probe = weakref.ref(first)
        del first, second
        gc.collect()
        assert probe() is None
        print("ok")
        """
    )
    environment = {**os.environ, "PYTHONPATH": os.getcwd()}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert gc.isenabled()
