# Detection (Mask R-CNN, RetinaNet): dynamic batch 1-2 and any size 320..1344 per side.
# opt is the COCO test size (short side 800, long side 1333 padded to 1344).
task = 'detection'
profile = dict(
    min_shape=[1, 3, 320, 320],
    opt_shape=[1, 3, 800, 1344],
    max_shape=[2, 3, 1344, 1344])
onnx_config = dict(opset_version=17, input_name='input')
# Second-stage (Mask R-CNN RoI head) candidates kept before NMS (TensorRT 10 needs TopK k < 3840); mmdet keeps all
# above score_thr, so results match it exactly while <= pre_top_k pass the threshold.
post_processing = dict(pre_top_k=3000)
# Verification shapes: opt, min, max, two sizes that are not multiples of 32, batch 2.
verify = dict(shapes=[
    [1, 3, 800, 1344],
    [1, 3, 320, 320],
    [1, 3, 1344, 1344],
    [1, 3, 427, 640],
    [1, 3, 801, 1201],
    [2, 3, 608, 800],
])
tensorrt = dict(workspace_size=4 << 30)
