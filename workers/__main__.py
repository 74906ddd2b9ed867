"""Start worker processes with Dramatiq's own command, sized from the settings.

    python -m workers [more dramatiq options, e.g. --processes 2 or --queues images]

is `dramatiq workers.main:setup --processes 1 --threads N`, N being one thread per image the
local-model pool (WORKER_THREADS) and, when a tier uses a remote engine, the remote pool
(REMOTE_WORKER_THREADS) can work on at once. Options given here come after, so they win.
Integrators' callbacks run beside them on CALLBACK_THREADS threads of their own (see
`workers.broker.build_callback_broker`), never on these.
"""

from __future__ import annotations

import sys

from dramatiq.cli import main as dramatiq_main

from bot.observability import configure_logging
from services.settings import load_settings
from workers.main import worker_thread_count


def command_line(threads: int, extra: list[str]) -> list[str]:
    """Dramatiq's arguments: the defaults first, so that options given by hand override them."""
    # --skip-logging: the log format is the service's (see `configure_logging`), not Dramatiq's.
    return [
        "dramatiq",
        "workers.main:setup",
        "--processes",
        "1",
        "--threads",
        str(threads),
        "--skip-logging",
        *extra,
    ]


if __name__ == "__main__":
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    sys.argv = command_line(worker_thread_count(settings), sys.argv[1:])
    sys.exit(dramatiq_main())  # type: ignore[no-untyped-call]
