"""The resume cache: computed once, keyed by everything that changes a result,
atomic and robust to damaged entries."""
import json
import logging

import pytest

from trtvit_dense.benchmark.cache import ResultCache, cache_key


def counter():
    calls = []

    def compute():
        calls.append(1)
        return dict(mean_ms=1.5, shape=(1, 3, 8, 8))
    return calls, compute


def test_second_call_is_served_from_disk(tmp_path):
    calls, compute = counter()
    key = dict(model='abc', backend='onnxruntime', shape=[1, 3, 8, 8])
    first, cached1 = ResultCache(tmp_path).get_or_compute('compute_opt', key, compute)
    # a new cache object (a new process) sees the stored entry
    second, cached2 = ResultCache(tmp_path).get_or_compute('compute_opt', key, compute)
    assert (cached1, cached2) == (False, True)
    assert len(calls) == 1
    assert first == second == dict(mean_ms=1.5, shape=[1, 3, 8, 8])  # JSON data both times


@pytest.mark.parametrize('change', [dict(backend='pytorch'), dict(shape=[1, 3, 8, 16]),
                                    dict(model='abd'), dict(extra=None)])
def test_any_key_change_recomputes(tmp_path, change):
    calls, compute = counter()
    key = dict(model='abc', backend='onnxruntime', shape=[1, 3, 8, 8])
    cache = ResultCache(tmp_path)
    cache.get_or_compute('row', key, compute)
    cache.get_or_compute('row', dict(key, **change), compute)
    assert len(calls) == 2


def test_kind_is_part_of_the_key(tmp_path):
    calls, compute = counter()
    cache = ResultCache(tmp_path)
    cache.get_or_compute('compute_opt', dict(a=1), compute)
    cache.get_or_compute('e2e_opt', dict(a=1), compute)
    assert len(calls) == 2


def test_key_order_does_not_matter():
    assert cache_key(dict(a=1, b=[1, 2])) == cache_key(dict(b=[1, 2], a=1))
    assert cache_key(dict(a=1)) != cache_key(dict(a=2))


@pytest.mark.parametrize('damage', ['{"key": ', '[]', '{"key": {"other": 1}, "value": 3}',
                                    '\udcff'])
def test_damaged_entry_is_reported_and_recomputed(tmp_path, damage, caplog):
    calls, compute = counter()
    cache = ResultCache(tmp_path)
    key = dict(a=1)
    cache.get_or_compute('row', key, compute)
    path = cache.path('row', key)
    path.write_bytes(damage.encode('utf-8', 'surrogateescape'))
    with caplog.at_level(logging.WARNING):
        value, cached = ResultCache(tmp_path).get_or_compute('row', key, compute)
    assert not cached and len(calls) == 2
    assert str(path) in caplog.text
    assert json.loads(path.read_text())['value'] == value  # rewritten whole


def test_disabled_cache_always_computes_and_writes_nothing(tmp_path):
    calls, compute = counter()
    cache = ResultCache(tmp_path / 'c', enabled=False)
    cache.get_or_compute('row', dict(a=1), compute)
    cache.get_or_compute('row', dict(a=1), compute)
    assert len(calls) == 2
    assert not (tmp_path / 'c').exists()


def test_failed_measurement_stores_nothing(tmp_path):
    cache = ResultCache(tmp_path)

    def fail():
        raise RuntimeError('interrupted')

    with pytest.raises(RuntimeError, match='interrupted'):
        cache.get_or_compute('row', dict(a=1), fail)
    assert list(tmp_path.iterdir()) == []
