# Segmentation on small images (the toy UPerNet config, tests): dynamic batch 1-2 and
# any size 64..512 per side, opt at the toy crop size.
_base_ = ['./segmentation_dynamic-256x256-1024x1024.py']
profile = dict(
    min_shape=[1, 3, 64, 64],
    opt_shape=[1, 3, 256, 256],
    max_shape=[2, 3, 512, 512])
verify = dict(_delete_=True, shapes=[
    [1, 3, 256, 256],
    [1, 3, 64, 64],
    [1, 3, 512, 512],
    [1, 3, 97, 131],
    [1, 3, 256, 341],
    [2, 3, 192, 256],
])
