# Detection at one fixed shape (COCO test size); compare with the dynamic profile.
_base_ = ['./detection_dynamic-320x320-1344x1344.py']
profile = dict(
    min_shape=[1, 3, 800, 1344],
    opt_shape=[1, 3, 800, 1344],
    max_shape=[1, 3, 800, 1344])
verify = dict(_delete_=True, shapes=[[1, 3, 800, 1344]])
