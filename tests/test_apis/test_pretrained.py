"""The pretrain -> fine-tune bridge: a classifier checkpoint initialises the backbone of
every detection/segmentation config through ``--backbone-weights`` (prefix and key
layout found automatically), and only the backbone."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from trtvit_dense.apis import ConfigError, load_config, prepare_train_config
from trtvit_dense.models.pretrained import LAYOUTS, match_backbone_weights
from trtvit_dense.registry import MODELS

ROOT = Path(__file__).parents[2]
TRTVIT_CLS = 'configs/toy/classifier_trtvit-a_toy.py'
R50_CLS = 'configs/toy/classifier_r50_toy.py'
R50_V1C_CLS = 'configs/toy/classifier_r50-v1c_toy.py'
# every TRT-ViT / R50 detection and segmentation config family, with the classifier
# whose backbone it takes (the toy ones: same backbones as the full configs, cheaper)
PAIRS = [
    ('configs/toy/mask-rcnn_trtvit-a_fpn_toy.py', TRTVIT_CLS),
    ('configs/toy/retinanet_trtvit-a_fpn_toy.py', TRTVIT_CLS),
    ('configs/toy/upernet_trtvit-a_toy.py', TRTVIT_CLS),
    ('configs/toy/mask-rcnn_r50_fpn_toy.py', R50_CLS),
    ('configs/toy/retinanet_r50_fpn_toy.py', R50_CLS),
    ('configs/toy/upernet_r50_toy.py', R50_V1C_CLS),
    ('configs/mask_rcnn/mask-rcnn_trtvit-b_fpn_1x_coco.py', None),  # b: its own classifier
]


def build(cfg: Config):
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


def random_classifier(config: str, path: Path, seed: int = 0) -> dict:
    """An mmpretrain ImageClassifier checkpoint whose every tensor is random (BN step
    counters included), so that a copied weight is recognisable; returns its state."""
    model = build(Config.fromfile(str(ROOT / config)))
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if value.dtype == torch.long:
            state[key] = torch.randint(1, 10**6, value.shape, generator=gen)
        else:
            state[key] = torch.rand(value.shape, generator=gen) + 0.5  # BN vars > 0
    torch.save(dict(state_dict=state, meta=dict(seed=seed)), path)
    return state


@pytest.mark.parametrize('config, classifier', PAIRS)
def test_every_backbone_weight_comes_from_the_classifier(config, classifier, tmp_path):
    cfg = load_config(str(ROOT / config))
    if classifier is None:  # a TRT-ViT-B classifier for the TRT-ViT-B detector
        classifier = tmp_path / 'trtvit-b_cls.py'
        classifier.write_text(f"_base_ = '{ROOT / TRTVIT_CLS}'\nmodel = dict(backbone=dict("
                              "arch='b'), head=dict(in_channels=1792))\n")
    ckpt = tmp_path / 'classifier.pth'
    source = random_classifier(str(classifier), ckpt)
    prepare_train_config(cfg, config, work_dir=str(tmp_path / 'work'),
                         backbone_weights=str(ckpt))
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and 'prefix' not in init
    assert Path(init.checkpoint) == tmp_path / 'work' / 'pretrained' / 'classifier_backbone.pth'
    model = build(cfg)
    model.init_weights()
    backbone = model.backbone.state_dict()
    layout = 'same' if 'upernet_r50' not in config else 'mmpretrain stem -> mmseg/mmdet stem'
    mapped = {LAYOUTS[layout](k[len('backbone.'):]): v for k, v in source.items()
              if k.startswith('backbone.')}
    assert set(backbone) == set(mapped)
    for key, value in backbone.items():
        assert torch.equal(value, mapped[key]), key
    # ... and nothing else: no other tensor of the model holds a classifier value
    values = {(tuple(v.shape), v.flatten()[:4].tolist().__repr__()) for v in source.values()}
    for key, value in model.state_dict().items():
        if key.startswith('backbone.') or value.numel() < 4:
            continue
        assert (tuple(value.shape), value.flatten()[:4].tolist().__repr__()) not in values, key


def test_prefix_and_layout_are_found(tmp_path):
    target = {'stem.0.weight': (32, 3, 3, 3), 'stem.1.weight': (32, ), 'stem.3.weight':
              (32, 32, 3, 3), 'layer1.0.conv1.weight': (64, 64, 1, 1)}
    weights = {'backbone.stem.0.conv.weight': torch.ones(32, 3, 3, 3),
               'backbone.stem.0.bn.weight': torch.ones(32),
               'backbone.stem.1.conv.weight': torch.ones(32, 32, 3, 3),
               'backbone.layer1.0.conv1.weight': torch.ones(64, 64, 1, 1),
               'head.fc.weight': torch.ones(5, 2048)}
    found = match_backbone_weights(weights, target, 'x.pth', 'the backbone')
    assert (found.prefix, found.layout, found.unused) == (
        'backbone.', 'mmpretrain stem -> mmseg/mmdet stem', 1)
    assert list(found.state_dict) == list(target)
    bare = {k[len('backbone.'):]: v for k, v in weights.items() if k.startswith('backbone.')}
    assert match_backbone_weights(bare, target, 'x.pth', 'b').prefix == ''
    with pytest.raises(ValueError, match=r"checkpoint x\.pth does not hold the weights of the "
                       r"backbone: at best \(under the key prefix 'head\.'\) 0 of its 4 "
                       r'weights fit, 4 are missing or have other shapes .*; try without '
                       r'--backbone-prefix'):
        match_backbone_weights(weights, target, 'x.pth', 'the backbone', prefix='head')


def test_a_checkpoint_of_another_backbone_is_refused(tmp_path):
    cfg = load_config(str(ROOT / 'configs/toy/retinanet_trtvit-a_fpn_toy.py'))
    ckpt = tmp_path / 'r50.pth'
    random_classifier(R50_CLS, ckpt)
    with pytest.raises(ConfigError, match=r"checkpoint .*r50\.pth does not hold the weights "
                       r"of the backbone of RetinaNet with TRTViT\('a'\): at best .* 0 of its "
                       r'264 weights fit, 264 are missing or have other shapes '
                       r'\(stem\.0\.conv\.weight, .*\); pass a checkpoint of this backbone'):
        prepare_train_config(cfg, 'x.py', work_dir=str(tmp_path / 'work'),
                             backbone_weights=str(ckpt))
    assert not (tmp_path / 'work' / 'pretrained').exists()
