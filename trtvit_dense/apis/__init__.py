"""The top floor: training and testing through mmengine's Runner (:mod:`.runner`),
inference on image files (:mod:`.inference`), the demo (:mod:`.demo`) and the tools'
shared command-line pieces (:mod:`.cli`). Config loading and checks live on the ground
floor (:mod:`trtvit_dense.config`, :mod:`trtvit_dense.checks`) and are re-exported here
for the tools."""
from ..checks import check_config
from ..config import ConfigError, load_config, task_of
from .inference import (ImageReadError, InputError, Predictor, collect_images,
                        predictions_to_dict, run_inference)
from .runner import (build_runner, prepare_test_config, prepare_train_config,
                     release_process_group, test, train)

__all__ = ['ConfigError', 'check_config', 'build_runner', 'load_config',
           'prepare_test_config', 'prepare_train_config', 'release_process_group',
           'task_of', 'test', 'train', 'ImageReadError', 'InputError', 'Predictor',
           'collect_images', 'predictions_to_dict', 'run_inference']
