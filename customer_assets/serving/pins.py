"""Pinned model versions (rollback over HTTP): a ModelSource that answers the pinned version instead of the
champion alias for pinned models, so the StateLoader swaps it in like any new champion, without failing a request.

Pins live in the process: a restart serves the champions again (the registry's alias stays the truth).
"""

from __future__ import annotations

import threading


class PinnedModelSource:
    def __init__(self, inner) -> None:
        self.inner = inner
        self._pins: dict[str, int] = {}
        self._lock = threading.Lock()

    def pins(self) -> dict[str, int]:
        with self._lock:
            return dict(self._pins)

    def pin(self, name: str, version: int) -> None:
        with self._lock:
            self._pins[name] = int(version)

    def unpin(self, name: str) -> int | None:
        with self._lock:
            return self._pins.pop(name, None)

    def champion_versions(self, names: tuple[str, ...]) -> dict[str, int | None]:
        versions = self.inner.champion_versions(names)
        pins = self.pins()
        return {name: pins.get(name, version) for name, version in versions.items()}

    def load(self, name: str, version: int):
        return self.inner.load(name, version)
