"""The ONNX side of deployment: export of the rewrite (:mod:`.export`), graph helpers
shared by the precision converters (:mod:`.graph`) and the TensorRT op lint
(:mod:`.lint`, with its operator tables in ``data/``)."""
