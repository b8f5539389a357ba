from .hooks import AtomicCheckpointHook, RNGStateHook, rng_states, set_rng_states
from .progress import ProgressFileHook, progress_line, read_progress

__all__ = ['AtomicCheckpointHook', 'RNGStateHook', 'ProgressFileHook', 'rng_states',
           'set_rng_states', 'progress_line', 'read_progress']
