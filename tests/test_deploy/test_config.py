"""Deploy configs: every shipped one loads, and bad ones fail naming the problem."""
from pathlib import Path

import pytest

from trtvit_dense.deploy import DeployConfigError, ShapeError, load_deploy_config
from trtvit_dense.deploy.config import from_dict

ROOT = Path(__file__).parents[2]
DEPLOY_CFGS = sorted((ROOT / 'configs/deploy').glob('*.py'))


@pytest.mark.parametrize('path', DEPLOY_CFGS, ids=lambda p: p.stem)
def test_shipped_deploy_configs(path):
    cfg = load_deploy_config(path)
    assert cfg.task in path.stem
    assert cfg.opset_version >= 17
    static = 'static' in path.stem
    assert cfg.is_dynamic is not static
    assert cfg.dynamic_dims() == ({} if static else {0: 'batch', 2: 'height', 3: 'width'})
    # verification covers >= 5 shapes incl. odd sizes and batch 2 for dynamic profiles
    if not static:
        assert len(cfg.verify_shapes) >= 5
        assert any(s[2] % 32 or s[3] % 32 for s in cfg.verify_shapes)
        assert any(s[0] == 2 for s in cfg.verify_shapes)
    for shape in cfg.verify_shapes:
        cfg.check_shape(shape)


def base(**over):
    d = dict(task='detection', profile=dict(min_shape=[1, 3, 64, 64],
                                            opt_shape=[1, 3, 128, 128],
                                            max_shape=[2, 3, 256, 256]))
    d.update(over)
    return d


@pytest.mark.parametrize('shape, dim', [((3, 3, 128, 128), '3x3x128x128'),
                                        ((1, 3, 63, 128), '1x3x63x128'),
                                        ((1, 3, 128, 257), '1x3x128x257')])
def test_shape_outside_profile_names_range(shape, dim):
    cfg = from_dict(base())
    with pytest.raises(ShapeError, match=f'{dim} is outside the deploy profile.*'
                       'min 1x3x64x64 and max 2x3x256x256'):
        cfg.check_shape(shape)
    cfg.check_shape((2, 3, 256, 64))  # boundaries are inside


@pytest.mark.parametrize('over, match', [
    (dict(task='pose'), "task must be one of"),
    (dict(profile=dict(min_shape=[1, 3, 64, 64], opt_shape=[1, 3, 32, 32],
                       max_shape=[1, 3, 64, 64])), 'min_shape <= opt_shape <= max_shape'),
    (dict(profile=dict(min_shape=[1, 1, 64, 64], opt_shape=[1, 1, 64, 64],
                       max_shape=[1, 1, 64, 64])), 'must have 3 channels'),
    (dict(profile=dict(min_shape=[1, 3, 64], opt_shape=[1, 3, 64, 64],
                       max_shape=[1, 3, 64, 64])), r'4 positive ints \[B, 3, H, W\]'),
    (dict(profile=dict(opt_shape=[1, 3, 64, 64], max_shape=[1, 3, 64, 64])),
     'profile is missing `min_shape`'),
    (dict(onnx_config=dict(opset_version=13)), 'opset_version must be an int >= 17'),
    (dict(verify=dict(shapes=[[1, 3, 512, 512]])), 'verify shape 1x3x512x512 is outside'),
    (dict(post_processing=dict(pre_top_k=0)), 'pre_top_k must be a positive int'),
])
def test_bad_deploy_config(over, match):
    with pytest.raises(DeployConfigError, match=match):
        from_dict(base(**over))


def test_missing_deploy_config(tmp_path):
    with pytest.raises(DeployConfigError, match='deploy config not found'):
        load_deploy_config(tmp_path / 'nope.py')
