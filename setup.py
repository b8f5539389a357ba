"""Packaging for trtvit-dense.

Only the pure-Python dependencies are declared here. torch (CPU or CUDA build) and mmcv
(compiled from source for this torch) are installed by ``tools/setup_env.sh`` from the
pinned ``requirements.txt``; declaring them here would make pip try to fetch or rebuild them.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'",
                    (ROOT / 'trtvit_dense' / 'version.py').read_text()).group(1)
# the supported TensorRT range, from trtvit_dense/deploy/backends/tensorrt/common.py
TRT_LOW, TRT_HIGH = re.search(
    r"SUPPORTED_VERSIONS = \('([^']+)', '([^']+)'\)",
    (ROOT / 'trtvit_dense/deploy/backends/tensorrt/common.py').read_text()).groups()

# the `modelopt` extra: requirements-modelopt.txt's pins
MODELOPT = [line.strip() for line in
            (ROOT / 'requirements-modelopt.txt').read_text().splitlines()
            if line.strip() and not line.lstrip().startswith('#')]

setup(
    name='trtvit_dense',
    version=VERSION,
    description='TRT-ViT backbones for mmdet/mmseg with dynamic-shape ONNX and '
                'TensorRT deployment and latency/accuracy benchmarks',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    python_requires='>=3.11,<3.12',
    packages=find_packages(include=['trtvit_dense', 'trtvit_dense.*']),
    # the TensorRT operator table read by trtvit_dense.deploy.onnx.lint, and the configs
    # (configs/, linked into the package as .mim/configs, copied into a wheel) that
    # trtvit_dense.config.package_config and mmengine's `trtvit_dense::` find
    package_data={'trtvit_dense.deploy.onnx': ['data/*.json'],
                  'trtvit_dense': ['.mim/model-index.yml', '.mim/configs/**/*.py']},
    install_requires=[
        'mmengine==0.10.7',
        'mmdet==3.3.0',
        'mmsegmentation==1.2.2',
        'numpy>=2.0,<2.3',
        'onnx>=1.17',
        'onnxruntime>=1.20',
        'pycocotools>=2.0.8',
        'matplotlib>=3.8',
        'tqdm>=4.60',
        # the Next-ViT backbones (trtvit_dense.models.backbones.next_vit)
        'timm==1.0.31',
    ],
    extras_require={
        'tests': ['pytest>=8'],
        # int8 Q/DQ placed by NVIDIA Model Optimizer (--quantizer modelopt): ModelOpt and
        # what its ONNX quantization imports (its own [onnx] extra pins onnx and
        # onnxruntime-gpu releases this stack cannot take)
        'modelopt': MODELOPT,
        # TensorRT built for torch's CUDA: pip install 'trtvit_dense[tensorrt-cu12]'
        # (a plain `pip install tensorrt` pulls the CUDA 13 build whatever torch is)
        # (trtvit_dense.deploy.backends.tensorrt.PACKAGES; a test keeps them equal)
        **{package: [f'{package}>={TRT_LOW},<={TRT_HIGH}']
           for package in ('tensorrt-cu12', 'tensorrt-cu13')},
    },
    license='Apache-2.0',
    license_files=['LICENSE'],
)
