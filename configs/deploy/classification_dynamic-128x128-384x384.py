# Classification (ImageNet): dynamic batch 1-32 and any size 128..384 per side; opt is
# ImageNet's 224 x 224 at batch 8, the batch the TRT-ViT paper and Next-ViT time at.
task = 'classification'
profile = dict(
    min_shape=[1, 3, 128, 128],
    opt_shape=[8, 3, 224, 224],
    max_shape=[32, 3, 384, 384])
# the graph's one output: `scores` [B, num_classes], softmax probabilities
onnx_config = dict(opset_version=17, input_name='input')
verify = dict(shapes=[
    [8, 3, 224, 224],
    [1, 3, 224, 224],
    [1, 3, 128, 128],
    [2, 3, 384, 384],
    [3, 3, 197, 263],  # odd sizes: nothing in the graph may assume a multiple of 32
    [32, 3, 160, 160],
])
tensorrt = dict(workspace_size=4 << 30)
