# Detection on small images (the toy configs resize the long side to 160 px; demo, tests):
# dynamic batch 1-2 and any size 64..448 per side, opt at the toy test size.
_base_ = ['./detection_dynamic-320x320-1344x1344.py']
profile = dict(
    min_shape=[1, 3, 64, 64],
    opt_shape=[1, 3, 160, 160],
    max_shape=[2, 3, 448, 448])
verify = dict(_delete_=True, shapes=[
    [1, 3, 160, 160],
    [1, 3, 64, 64],
    [1, 3, 448, 448],
    [1, 3, 131, 224],
    [1, 3, 225, 179],
    [2, 3, 160, 224],
])
