# The toy ImageNet data (tools/make_toy_data.py, trtvit_dense.datasets.make_toy_imagenet)
# for the toy classification configs: one shape per image, its class the label, in
# mmpretrain's ImageNet layout. Use as a second base next to an ImageNet config and
# assign the parts, e.g. `train_dataloader = {{_base_.toy_imagenet_train_dataloader}}`.
toy_imagenet_root = 'data/toy_imagenet/'
# == trtvit_dense.datasets.TOY_IMAGENET_CLASSES (a test checks it)
toy_imagenet_classes = ('circle', 'rectangle', 'triangle', 'star', 'ring')
# Toy images are 128-192 px; 112 x 112 keeps every shape whole (no crop) at a quarter of
# ImageNet's 224 x 224 cost.
toy_imagenet_size = 112

toy_imagenet_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(toy_imagenet_size, toy_imagenet_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
toy_imagenet_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(toy_imagenet_size, toy_imagenet_size)),
    dict(type='PackInputs'),
]


def __loader(split, pipeline, shuffle):
    return dict(
        batch_size=8,  # 200 training images: 25 iterations per epoch
        num_workers=1,
        persistent_workers=True,
        dataset=dict(type='ImageNet', data_root=toy_imagenet_root, split=split,
                     # ImageNet's 1000 names are the default; the toy has 5 classes
                     classes=list(toy_imagenet_classes), pipeline=pipeline),
        sampler=dict(type='DefaultSampler', shuffle=shuffle))


toy_imagenet_train_dataloader = __loader('train', toy_imagenet_train_pipeline, True)
toy_imagenet_val_dataloader = __loader('val', toy_imagenet_test_pipeline, False)
# top-5 of 5 classes is always 100%
toy_imagenet_evaluator = dict(type='Accuracy', topk=(1, ))
