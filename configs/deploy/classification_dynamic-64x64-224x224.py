# Classification on small images (the toy classifier configs, demo, tests): dynamic
# batch 1-8 and any size 64..224 per side, opt at the toy size (112) and batch 8.
_base_ = ['./classification_dynamic-128x128-384x384.py']
profile = dict(
    min_shape=[1, 3, 64, 64],
    opt_shape=[8, 3, 112, 112],
    max_shape=[8, 3, 224, 224])
verify = dict(_delete_=True, shapes=[
    [8, 3, 112, 112],
    [1, 3, 112, 112],
    [1, 3, 64, 64],
    [2, 3, 224, 224],
    [3, 3, 97, 131],
    [8, 3, 160, 160],
])
