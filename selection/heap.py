"""A worker's start-up heap, kept out of the garbage collector's passes.

A worker starts with some 80,000 to 120,000 tracked objects (the framework, the routes, the
schemas, the clients) that live as long as it does. Left in the collected generations, every
full pass of the cyclic collector walks them again; under the opening's load that is a pass
every second or so, tens of milliseconds each, in which no request moves. Frozen once start-up
is done, they are skipped; what is made later (caches, requests) is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect what start-up left as garbage, then move everything alive to the permanent generation."""
    gc.collect()
    gc.freeze()
