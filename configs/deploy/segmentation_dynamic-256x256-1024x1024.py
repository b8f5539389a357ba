# Segmentation (UPerNet): dynamic batch 1-2 and any size 256..1024 per side.
# opt is the ADE20K crop size.
task = 'segmentation'
profile = dict(
    min_shape=[1, 3, 256, 256],
    opt_shape=[1, 3, 512, 512],
    max_shape=[2, 3, 1024, 1024])
# with_logits adds a `seg_logits` output [B, num_classes, H, W] next to `seg_labels`.
onnx_config = dict(opset_version=17, input_name='input', with_logits=False)
verify = dict(shapes=[
    [1, 3, 512, 512],
    [1, 3, 256, 256],
    [1, 3, 1024, 1024],
    [1, 3, 333, 517],
    [1, 3, 512, 683],
    [2, 3, 480, 640],
])
tensorrt = dict(workspace_size=4 << 30)
