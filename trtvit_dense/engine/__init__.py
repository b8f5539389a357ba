from .hooks import AtomicCheckpointHook, RNGStateHook, rng_states, set_rng_states

__all__ = ['AtomicCheckpointHook', 'RNGStateHook', 'rng_states', 'set_rng_states']
