# The toy COCO data (tools/make_toy_data.py, trtvit_dense.datasets.make_toy_coco) for the
# toy detection configs: data root, classes, pipelines, dataloaders and evaluator. Use as
# a second base next to a detection config and assign the parts, e.g.
#   train_dataloader = {{_base_.toy_coco_train_dataloader}}
# (`toy_coco_instance_*` load masks too, for Mask R-CNN).
toy_coco_root = 'data/toy_coco/'
# == trtvit_dense.datasets.TOY_COCO_CLASSES (a test checks it)
toy_coco_metainfo = dict(classes=('circle', 'rectangle', 'triangle', 'star', 'ring'))
# Toy images are 128-192 px; the long side resized to 160 px keeps objects (18-50% of
# the short side) near or above the smallest anchor (32 px).
toy_coco_scale = (160, 160)


def __pipelines(masks):
    annotations = dict(type='LoadAnnotations', with_bbox=True, **(
        dict(with_mask=True) if masks else {}))
    train = [
        dict(type='LoadImageFromFile'),
        annotations,
        dict(type='Resize', scale=toy_coco_scale, keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]
    test = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=toy_coco_scale, keep_ratio=True),
        annotations,
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
    ]
    return train, test


def __loader(split, pipeline, **settings):
    return dict(
        num_workers=1,  # 2 CPU cores: one loads data while the other trains
        **settings,
        dataset=dict(
            data_root=toy_coco_root,
            metainfo=toy_coco_metainfo,
            ann_file=f'annotations/instances_{split}.json',
            data_prefix=dict(img=f'{split}/'),
            pipeline=pipeline))


# (names starting with '__' are helpers that mmengine leaves out of the config)
__box_train, __box_test = __pipelines(masks=False)
__mask_train, __mask_test = __pipelines(masks=True)
toy_coco_train_dataloader = __loader('train', __box_train, batch_size=4,
                                     persistent_workers=True)
toy_coco_val_dataloader = __loader('val', __box_test, batch_size=1)
toy_coco_instance_train_dataloader = __loader('train', __mask_train, batch_size=4,
                                              persistent_workers=True)
toy_coco_instance_val_dataloader = __loader('val', __mask_test, batch_size=1)
toy_coco_evaluator = dict(ann_file=toy_coco_root + 'annotations/instances_val.json')
