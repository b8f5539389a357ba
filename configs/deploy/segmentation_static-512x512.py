# Segmentation at one fixed shape (the ADE20K crop); compare with the dynamic profile.
_base_ = ['./segmentation_dynamic-256x256-1024x1024.py']
profile = dict(
    min_shape=[1, 3, 512, 512],
    opt_shape=[1, 3, 512, 512],
    max_shape=[1, 3, 512, 512])
verify = dict(_delete_=True, shapes=[[1, 3, 512, 512]])
