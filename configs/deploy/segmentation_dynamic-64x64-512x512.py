# Segmentation on small images (the toy UPerNet config, demo, tests): dynamic batch 1-2
# and any size 64..512 per side, opt at the toy test size.
_base_ = ['./segmentation_dynamic-256x256-1024x1024.py']
profile = dict(
    min_shape=[1, 3, 64, 64],
    opt_shape=[1, 3, 160, 160],
    max_shape=[2, 3, 512, 512])
verify = dict(_delete_=True, shapes=[
    [1, 3, 160, 160],
    [1, 3, 64, 64],
    [1, 3, 512, 512],
    [1, 3, 97, 131],
    [1, 3, 256, 341],
    [2, 3, 192, 256],
])
