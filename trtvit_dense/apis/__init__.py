from .checks import ConfigError, check_config
from .inference import (ImageReadError, InputError, Predictor, collect_images,
                        predictions_to_dict, run_inference)
from .runner import (build_runner, load_config, prepare_test_config, prepare_train_config,
                     release_process_group, task_of, test, train)

__all__ = ['ConfigError', 'check_config', 'build_runner', 'load_config',
           'prepare_test_config', 'prepare_train_config', 'release_process_group',
           'task_of', 'test', 'train', 'ImageReadError', 'InputError', 'Predictor',
           'collect_images', 'predictions_to_dict', 'run_inference']
