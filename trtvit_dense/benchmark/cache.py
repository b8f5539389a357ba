"""The benchmark's resume cache: one JSON file per finished measurement.

A measurement (a row's accuracy pass, its opt-shape timing, ...) is stored under the
SHA-256 of its key: everything that changes the result (model files by content hash,
backend, precision, shapes, data, timing settings, thread count). Running the same
command again loads finished measurements instead of recomputing them; changing any
input changes the key. Files are written atomically, so an interrupted run leaves
either a complete entry or none. An entry that cannot be read back (edited, truncated
by a full disk) is reported and recomputed.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable

from ..utils.atomic import atomic_write_bytes

__all__ = ['ResultCache', 'cache_key']

logger = logging.getLogger(__name__)


def _canonical(key: dict) -> str:
    return json.dumps(key, sort_keys=True, separators=(',', ':'), default=str)


def cache_key(key: dict) -> str:
    """Hex SHA-256 of the key's canonical JSON (sorted keys, no whitespace)."""
    return hashlib.sha256(_canonical(key).encode('utf-8')).hexdigest()


class ResultCache:
    """``cache.get_or_compute(kind, key, compute)`` returns ``(value, cached)``."""

    def __init__(self, root: str | Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled
        self.hits = self.misses = 0

    def path(self, kind: str, key: dict) -> Path:
        return self.root / f'{kind}-{cache_key(dict(key, kind=kind))[:24]}.json'

    def load(self, kind: str, key: dict) -> Any | None:
        path = self.path(kind, key)
        if not self.enabled or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding='utf-8'))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            logger.warning('cache entry %s is unreadable (%s); measuring again', path, e)
            return None
        stored = entry.get('key') if isinstance(entry, dict) else None
        if stored is None or _canonical(stored) != _canonical(json.loads(
                _canonical(dict(key, kind=kind)))) or 'value' not in entry:
            logger.warning('cache entry %s does not hold this measurement; measuring again',
                           path)
            return None
        return entry['value']

    def store(self, kind: str, key: dict, value: Any) -> Path:
        path = self.path(kind, key)
        entry = dict(key=json.loads(_canonical(dict(key, kind=kind))), value=value)
        return atomic_write_bytes(path, (json.dumps(entry, indent=1, sort_keys=True)
                                         + '\n').encode('utf-8'))

    def get_or_compute(self, kind: str, key: dict, compute: Callable[[], Any]
                       ) -> tuple[Any, bool]:
        value = self.load(kind, key)
        if value is not None:
            self.hits += 1
            return value, True
        self.misses += 1
        # as JSON data, so a fresh value looks exactly like a cached one
        value = json.loads(json.dumps(compute(), sort_keys=True))
        if self.enabled:
            self.store(kind, key, value)
        return value, False
