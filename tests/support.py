"""Former home of the server helpers, kept so that ``from tests.support import ...`` and
``python -m tests.support serve`` still work while other branches move over: everything is in
:mod:`tests.helpers` now. Import from there; this module can go once nothing imports it."""

from __future__ import annotations

from .helpers import (  # noqa: F401
    FakeEncoder,
    GatedEncoder,
    SlowEncoder,
    ask,
    free_port,
    main,
    request,
    start_slow_server,
    wait_for_marker,
    wait_until_up,
)

if __name__ == "__main__":
    main()
