"""The deploy side of each task (:attr:`trtvit_dense.tasks.Task.deploy`): one module per
task with the same functions, which the generic deploy code calls through the task:

* ``build_exportable(model, deploy_cfg)``: the export wrapper of :mod:`..rewrite`;
* ``head_config(model_cfg)``: the model part whose ``num_classes`` a deployed file must
  share with the config (see :func:`trtvit_dense.deploy.onnx.export.model_signature`);
* ``attach_predictions(outputs, data_samples, model_cfg)``: host post-processing of a
  backend's outputs into mmdet/mmseg/mmpretrain data samples;
* ``compare(ref, out, tol)``, ``failures(metrics, tol)`` and
  ``table(rows) -> (head, cells)``: the verification of a backend against PyTorch;
* ``describe_tolerances(tol)``: the tolerances of that verification, in words.
"""
