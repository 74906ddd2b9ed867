"""`bgbot remove` cuts several images at once but reports and writes them in input order."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.cli.remove import _cut_out_in_order
from services.imaging.intake import ImageRejected


def test_results_come_back_in_input_order_with_refusals_in_place():
    first_may_finish = threading.Event()
    paths = [Path(f"{n}.jpg") for n in range(6)]

    def cut(path: Path) -> bytes:
        if path.stem == "0":
            # The first image finishes only once a later one has: they ran at once.
            assert first_may_finish.wait(10)
        if path.stem == "3":
            raise ImageRejected("corrupt", "unreadable")
        if path.stem == "1":
            first_may_finish.set()
        return path.stem.encode()

    outcomes = list(_cut_out_in_order(paths, cut, workers=2))

    assert outcomes[:3] == [b"0", b"1", b"2"]
    assert isinstance(outcomes[3], ImageRejected)
    assert outcomes[4:] == [b"4", b"5"]
