"""Command-line arguments shared by the tools (mmdet/mmseg names where they exist)."""
import argparse
import os
from typing import List, Optional

from mmengine.config import DictAction

__all__ = ['add_runner_arguments', 'parse_runner_args', 'parse_size', 'user_errors']


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """--cfg-options, --launcher and --local-rank, as in mmdet's and mmseg's tools."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (as mmdet/mmseg)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[List[str]] = None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def parse_size(text: str) -> tuple:
    """``argparse`` type for an input size ``HxW`` (e.g. ``800x1344``), both >= 32."""
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size {text!r} is not HxW, e.g. 800x1344')
    if h < 32 or w < 32:
        raise argparse.ArgumentTypeError(f'size {text!r} is below the 32x32 minimum')
    return h, w


def user_errors() -> tuple:
    """The exception types that mean a bad input (config, checkpoint, deployed file,
    image, data, flag, missing runtime), each raised with a message that names the input
    and what to do: the tools print it as one ``error:`` line and exit 1. Anything else
    is a bug and keeps its traceback. Imported when called, so ``--help`` stays fast."""
    from ..benchmark.plan import BenchmarkError
    from ..config import ConfigError
    from ..deploy.backends import BackendError, BackendUnavailable
    from ..deploy.backends.tensorrt import EngineBuildError
    from ..deploy.config import DeployConfigError, ShapeError
    from ..deploy.manifest import ManifestError
    from ..deploy.onnx.export import SignatureMismatch
    from ..deploy.pipeline import DeployError
    from ..utils.checkpoint import CheckpointError
    from .inference import InputError
    return (ConfigError, CheckpointError, InputError, DeployError, DeployConfigError,
            ShapeError, SignatureMismatch, BackendError, BackendUnavailable,
            EngineBuildError, ManifestError, BenchmarkError, FileNotFoundError)
