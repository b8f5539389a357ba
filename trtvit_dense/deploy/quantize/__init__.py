"""Precision conversion of the exported graph: fp16 (:mod:`.fp16`), int8 QDQ
(:mod:`.int8`), and the check that a graph holds the precision it is built as
(:mod:`.checks`). The list of precisions is :data:`trtvit_dense.deploy.precision.PRECISIONS`."""
