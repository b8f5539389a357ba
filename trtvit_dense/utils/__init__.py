from .checkpoint import install_safe_globals, mmengine_safe_globals

__all__ = ['install_safe_globals', 'mmengine_safe_globals']
