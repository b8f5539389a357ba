"""The package stands without the checkout: a wheel built from it, installed (not
editable) into a throw-away venv that sees the project's other packages, finds its
shipped configs as ``trtvit_dense::`` and its defaults from the installed files."""
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

PROBE = textwrap.dedent('''
    import json, sys
    import trtvit_dense
    from mmengine.config import Config
    from trtvit_dense.config import load_config, package_config, package_config_root
    from trtvit_dense.deploy.config import load_deploy_config
    from trtvit_dense.benchmark.compare import compare_specs
    from trtvit_dense.tasks import TASKS
    from trtvit_dense.deploy.onnx.lint import load_ops_table
    cfg = load_config('trtvit_dense::mask_rcnn/mask-rcnn_trtvit-a_fpn_1x_coco.py')
    user = Config.fromfile(sys.argv[1])  # a user config inheriting a shipped one
    dcfg = load_deploy_config('trtvit_dense::deploy/detection_dynamic-64x64-448x448.py')
    defaults = [load_deploy_config(package_config(t.deploy_config)).task
                for t in TASKS.values()]
    print(json.dumps(dict(
        package=trtvit_dense.__file__, configs=str(package_config_root()),
        model=cfg.model.type, backbone=cfg.model.backbone.type,
        user=[user.model.type, user.model.backbone.arch, user.model.bbox_head.num_classes],
        deploy=[dcfg.task, list(dcfg.opt_shape)], defaults=defaults,
        compare=[s.config for s in compare_specs('upernet', ('trtvit-a', ))],
        ops=len(load_ops_table()['ops']))))
''')


@pytest.mark.slow
def test_wheel_installs_and_finds_its_configs(tmp_path):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '-w', str(tmp_path / 'dist'), str(ROOT)],
                   check=True, cwd=tmp_path)
    wheel, = (tmp_path / 'dist').glob('trtvit_dense-*.whl')
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    python = venv / 'bin' / 'python'
    site = Path(subprocess.run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
        check=True, capture_output=True, text=True).stdout.strip())
    # torch, mmdet, ... of the project's venv, after the new venv's own packages; a path
    # listed in a .pth file has its own .pth files (the editable install's finder) ignored
    (site / 'zz-project.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
                    '--target', str(site), str(wheel)], check=True)
    user_cfg = tmp_path / 'my_retinanet.py'
    user_cfg.write_text("_base_ = 'trtvit_dense::retinanet/retinanet_trtvit-b_fpn_1x_coco.py'\n"
                        "model = dict(bbox_head=dict(num_classes=3))\n")
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run([python, '-c', PROBE, str(user_cfg)], check=True, cwd=tmp_path,
                         capture_output=True, text=True, env=env).stdout
    import json
    found = json.loads(out.strip().splitlines()[-1])
    assert found['package'] == str(site / 'trtvit_dense' / '__init__.py')
    assert found['configs'] == str(site / 'trtvit_dense' / '.mim' / 'configs')
    assert (found['model'], found['backbone']) == ('MaskRCNN', 'TRTViT')
    assert found['user'] == ['RetinaNet', 'b', 3]
    assert found['deploy'] == ['detection', [1, 3, 160, 160]]
    assert found['defaults'] == ['detection', 'segmentation', 'classification']
    assert found['compare'][0].startswith(str(site / 'trtvit_dense' / '.mim' / 'configs'))
    assert found['ops'] > 100
