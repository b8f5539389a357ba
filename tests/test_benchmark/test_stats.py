"""Latency statistics (trtexec semantics) on known samples and the timing loop on a
fake clock."""
import math

import pytest

from trtvit_dense.benchmark.stats import TimingSettings, percentile, summarize, time_loop


@pytest.mark.parametrize('p, expected', [(50, 50), (90, 90), (95, 95), (99, 99),
                                         (100, 100), (0.5, 1), (99.5, 100)])
def test_percentile_nearest_rank_on_1_to_100(p, expected):
    samples = list(range(100, 0, -1))  # order must not matter
    assert percentile(samples, p) == expected


@pytest.mark.parametrize('samples, p, expected', [([7.0], 99, 7.0), ([3, 1, 2], 50, 2),
                                                  ([1, 2, 3, 4], 50, 2), ([1, 2, 3, 4], 90, 4),
                                                  ([10, 20], 95, 20)])
def test_percentile_small_samples_are_measured_values(samples, p, expected):
    assert percentile(samples, p) == expected


@pytest.mark.parametrize('samples, p, match', [([], 50, 'empty'), ([1.0], 0, r'\(0, 100\]'),
                                               ([1.0], 101, r'\(0, 100\]')])
def test_percentile_rejects_bad_input(samples, p, match):
    with pytest.raises(ValueError, match=match):
        percentile(samples, p)


def test_summarize_known_samples():
    stats = summarize([0.004, 0.001, 0.003, 0.002], batch=2, wall_s=0.01)
    assert stats.count == 4
    assert stats.mean_ms == pytest.approx(2.5)
    assert stats.median_ms == pytest.approx(2.5)  # even count: mean of the middle two
    assert (stats.min_ms, stats.max_ms) == pytest.approx((1.0, 4.0))
    assert (stats.p90_ms, stats.p95_ms, stats.p99_ms) == pytest.approx((4.0, 4.0, 4.0))
    assert stats.throughput == pytest.approx(2 * 4 / 0.01)  # images per second of wall time


def test_summarize_odd_count_median_and_default_wall():
    stats = summarize([0.3, 0.1, 0.2])
    assert stats.median_ms == pytest.approx(200.0)
    assert stats.throughput == pytest.approx(3 / 0.6)
    assert set(stats.to_dict()) == {'count', 'mean_ms', 'median_ms', 'p90_ms', 'p95_ms',
                                    'p99_ms', 'min_ms', 'max_ms', 'throughput'}


@pytest.mark.parametrize('samples, match', [([], 'no timing samples'),
                                            ([0.1, -0.1], 'non-negative'),
                                            ([math.nan], 'finite')])
def test_summarize_rejects_bad_samples(samples, match):
    with pytest.raises(ValueError, match=match):
        summarize(samples)


class FakeClock:
    """A clock that only moves when the timed function runs."""

    def __init__(self):
        self.now = 0.0
        self.calls = 0

    def __call__(self):
        return self.now

    def work(self, seconds):
        def fn():
            self.calls += 1
            self.now += seconds
        return fn


def test_time_loop_warms_up_by_count_and_time_then_times_iters():
    clock = FakeClock()
    settings = TimingSettings(warmup_s=0.35, warmup_iters=2, iters=5)
    stats, samples = time_loop(clock.work(0.1), settings, clock=clock)
    # warm-up: at least 2 calls and at least 0.35 s -> 4 calls of 0.1 s
    assert clock.calls == 4 + 5
    assert samples == pytest.approx([0.1] * 5)
    assert stats.mean_ms == pytest.approx(100.0)
    assert stats.throughput == pytest.approx(10.0)


def test_time_loop_min_duration_extends_the_timed_phase():
    clock = FakeClock()
    settings = TimingSettings(warmup_s=0, warmup_iters=0, iters=2, min_duration_s=1.0)
    stats, samples = time_loop(clock.work(0.25), settings, clock=clock)
    assert len(samples) == 4 and stats.count == 4


def test_time_loop_uses_device_time_the_function_returns():
    clock = FakeClock()
    work = clock.work(0.5)

    def fn():
        work()
        return 0.002  # e.g. CUDA-event time of the engine alone

    stats, samples = time_loop(fn, TimingSettings(warmup_s=0, warmup_iters=1, iters=3),
                               batch=4, clock=clock)
    assert samples == [0.002] * 3
    assert stats.mean_ms == pytest.approx(2.0)
    assert stats.throughput == pytest.approx(4 * 3 / 1.5)  # wall time, not device time


def test_time_loop_reports_progress():
    clock = FakeClock()
    seen = []
    time_loop(clock.work(0.01), TimingSettings(warmup_s=0, warmup_iters=0, iters=3),
              progress=seen.append, clock=clock)
    assert seen == [1, 2, 3]


@pytest.mark.parametrize('kwargs, match', [(dict(iters=0), 'iters must be >= 1'),
                                           (dict(warmup_s=-1), 'must be >= 0'),
                                           (dict(min_duration_s=-0.1), 'must be >= 0')])
def test_timing_settings_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TimingSettings(**kwargs)


def test_time_interleaved_alternates_and_separates_the_samples():
    from trtvit_dense.benchmark.stats import time_interleaved
    clock = FakeClock()
    order = []

    def timed(name, seconds):
        work = clock.work(seconds)

        def fn():
            order.append(name)
            work()
        return fn

    (fast, slow), samples = time_interleaved(
        [timed('a', 0.1), timed('b', 0.3)],
        TimingSettings(warmup_s=0, warmup_iters=1, iters=3), clock=clock)
    assert order == ['a', 'b'] + ['a', 'b'] * 3  # warm-up each, then alternate
    assert (fast.count, slow.count) == (3, 3)
    assert fast.median_ms == pytest.approx(100) and slow.median_ms == pytest.approx(300)
    assert samples == [pytest.approx([0.1] * 3), pytest.approx([0.3] * 3)]


def test_time_loop_refuses_a_result_that_is_not_a_time():
    with pytest.raises(TypeError, match='returns None or its own measured seconds, got list'):
        time_loop(lambda: [1.0], TimingSettings(warmup_s=0, warmup_iters=0, iters=1))
