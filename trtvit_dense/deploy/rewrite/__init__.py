"""Export rewrites: mmdet/mmseg inference as traceable modules with standard ONNX ops,
and the host-side post-processing that turns their outputs into data samples."""
from .detection import SUPPORTED_DETECTORS, ExportableDetector, postprocess_detection

__all__ = ['ExportableDetector', 'postprocess_detection', 'SUPPORTED_DETECTORS']
