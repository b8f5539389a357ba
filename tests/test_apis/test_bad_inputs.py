"""Bad inputs through every tool that takes them: one ``error:`` line naming the input
and what to do, a non-zero exit, and nothing written that looks like a result.

The tools run in process (``main(argv)``); every case here fails before a model runs,
so the whole matrix takes seconds. The crafted-pickle checkpoint is in
``test_crafted_checkpoint.py`` (subprocesses, to prove no command ran), unreadable
images given to ``tools/infer.py`` in ``test_inference.py``.
"""
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from mmengine.config import Config
from onnx import TensorProto, helper

import trtvit_dense  # noqa: F401
from conftest import save_checkpoint  # seeded random weights

from tools import benchmark as benchmark_tool
from tools import deploy as deploy_tool
from tools import infer as infer_tool
from tools import test as test_tool
from tools import train as train_tool
from trtvit_dense.apis import load_config
from trtvit_dense.config import split_transforms
from trtvit_dense.deploy.config import load_deploy_config
from trtvit_dense.deploy.onnx.export import DEPLOY_METADATA_KEY, METADATA_KEY, model_signature

ROOT = Path(__file__).parents[2]

TOOLS = dict(train=train_tool, test=test_tool, deploy=deploy_tool,
             benchmark=benchmark_tool, infer=infer_tool)
SEG = 'configs/toy/upernet_trtvit-a_toy.py'
SEG_R50 = 'configs/toy/upernet_r50_toy.py'
DET = 'configs/toy/retinanet_trtvit-a_fpn_toy.py'
DEPLOY_CFG = {SEG: 'configs/deploy/segmentation_dynamic-64x64-512x512.py',
              DET: 'configs/deploy/detection_dynamic-64x64-448x448.py'}
# Files whose presence would look like a finished result.
RESULTS = ('*.pth', 'last_checkpoint', '*.onnx', '*.engine', 'manifest.json', 'report.*',
           'predictions.json', '*.pkl')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Checkpoints (good, of another model, truncated, empty) and configs with a typo'd
    backbone key and a wrong arch name, made once."""
    root = tmp_path_factory.mktemp('bad_inputs')
    good = save_checkpoint(SEG, root / 'upernet.pth')
    truncated = root / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:4096])
    (root / 'empty.pth').write_bytes(b'')
    (root / 'garbage.pth').write_bytes(np.random.RandomState(0).bytes(3000))
    (root / 'typo.py').write_text(
        f"_base_ = '{ROOT / SEG}'\nmodel = dict(backbone=dict(drop_path_rat=0.1))\n")
    (root / 'arch.py').write_text(
        f"_base_ = '{ROOT / SEG}'\nmodel = dict(backbone=dict(arch='z'))\n")
    image = root / 'image.png'
    cv2.imwrite(str(image), np.random.RandomState(0).randint(0, 255, (96, 128, 3), np.uint8))
    return dict(root=root, good=good, other=save_checkpoint(SEG_R50, root / 'r50.pth'),
                truncated=truncated, empty=root / 'empty.pth', garbage=root / 'garbage.pth',
                typo=root / 'typo.py',
                arch=root / 'arch.py', image=image)


def data_options(config: str, root: Path) -> list[str]:
    """--cfg-options pointing every split of ``config`` at the toy data in ``root``."""
    if config == DET:
        coco = f'{root}/toy_coco/'
        return [f'{s}_dataloader.dataset.data_root={coco}' for s in ('train', 'val', 'test')
                ] + [f'{s}_evaluator.ann_file={coco}annotations/instances_val.json'
                     for s in ('val', 'test')]
    ade = f'{root}/toy_ade/ADEChallengeData2016'
    return [f'{s}_dataloader.dataset.data_root={ade}' for s in ('train', 'val', 'test')]


def tool_argv(tool: str, config, checkpoint, work: Path, data: Path, image) -> list[str]:
    """The command line of ``tool`` for ``config`` + ``checkpoint`` (``--resume`` for
    train when given), writing to ``work``, reading toy data from ``data``."""
    base = DET if str(config).endswith(DET) else SEG
    options = ['--cfg-options', *data_options(base, data)]
    deploy_cfg = str(ROOT / DEPLOY_CFG[base])
    argv = {
        'train': [config, '--work-dir', work, *options]
        + (['--resume', checkpoint] if checkpoint else []),
        'test': [config, checkpoint, '--work-dir', work, *options],
        'deploy': [config, checkpoint, '--deploy-cfg', deploy_cfg, '--work-dir', work,
                   '--images', image],
        'benchmark': ['--model', config, checkpoint, '--deploy-cfg', deploy_cfg,
                      '--work-dir', work, '--num-images', '1', '--iters', '1',
                      '--no-progress', *options],
        'infer': [config, checkpoint, image, '--out-dir', work],
    }[tool]
    return [str(a) for a in argv]


def run_tool(tool: str, argv: list[str]) -> str:
    """Run ``tool`` in process; it must exit with one ``error:`` line, returned."""
    with pytest.raises(SystemExit) as e:
        TOOLS[tool].main(argv)
    message = e.value.code
    assert isinstance(message, str), f'{tool} exited with {message!r}, not a message'
    assert message.startswith('error: ') and '\n' not in message, message
    return message


def assert_no_results(work: Path):
    found = [p for pattern in RESULTS for p in work.rglob(pattern)] if work.exists() else []
    assert not found, f'partial outputs left: {found}'


def check(tool, config, checkpoint, match, tmp_path, toy_data, image):
    work = tmp_path / 'work'
    message = run_tool(tool, tool_argv(tool, config, checkpoint, work, toy_data, image))
    assert re.search(match, message), message
    assert_no_results(work)
    return message


# -- configs ------------------------------------------------------------------------------

@pytest.mark.parametrize('tool', list(TOOLS))
@pytest.mark.parametrize('case, match', [
    ('missing', r"config file '.*nope\.py' does not exist; pass the path of a config"),
    ('typo', r"model\.backbone\.drop_path_rat in .*typo\.py is not an argument of TRTViT "
             r"\(did you mean 'drop_path_rate'\?\); fix the key"),
    ('arch', r"the model in .*arch\.py does not build: Unknown TRTViT arch 'z'; valid "
             r"choices: \['a', 'b', 'c', 'd'\]"),
])
def test_bad_config(tool, case, match, files, tmp_path, toy_data):
    config = files['root'] / 'nope.py' if case == 'missing' else files[case]
    check(tool, config, None if tool == 'train' else files['good'], match, tmp_path,
          toy_data, files['image'])


def test_unreadable_config_is_one_line(files, tmp_path, toy_data):
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(type=\n')
    check('test', broken, files['good'], r"config '.*broken\.py' cannot be read: "
          r'SyntaxError', tmp_path, toy_data, files['image'])


# -- checkpoints --------------------------------------------------------------------------

@pytest.mark.parametrize('tool', list(TOOLS))
@pytest.mark.parametrize('case, match', [
    ('other', r"checkpoint .*r50\.pth does not match EncoderDecoder with TRTViT\('a'\): "
              r'264 model weights are missing \(backbone\.stem\.0\.conv\.weight, .*; '
              r'\d+ are not in the model .*pass the checkpoint trained with this config'),
    ('truncated', r'checkpoint .*truncated\.pth cannot be read: it is truncated or '
                  r'damaged \(.*\); use another one, e.g. an earlier epoch_N\.pth'),
    ('empty', r'checkpoint .*empty\.pth cannot be read: it is empty; use another one'),
    ('garbage', r'checkpoint .*garbage\.pth is not a readable PyTorch checkpoint '
                r'\(.*\); it is damaged or not a checkpoint: use another one, e.g. an '
                r'earlier epoch_N\.pth'),
])
def test_bad_checkpoint(tool, case, match, files, tmp_path, toy_data):
    if tool == 'train':  # --resume: what to resume from instead
        match = {
            'other': match.replace('pass the checkpoint trained with this config',
                                   'resume a training of this config'),
            'truncated': r'cannot resume from checkpoint .*truncated\.pth: it is truncated '
                         r'or damaged \(.*\); .*delete it and start afresh',
            'empty': r'cannot resume from checkpoint .*empty\.pth: it is empty; .*delete it '
                     'and start afresh',
            'garbage': match}[case]
    check(tool, ROOT / SEG, files[case], match, tmp_path, toy_data, files['image'])


def test_backbone_weights_of_another_backbone(files, tmp_path, toy_data):
    work = tmp_path / 'work'
    message = run_tool('train', tool_argv('train', ROOT / SEG, None, work, toy_data, None)
                       + ['--backbone-weights', str(files['other']),
                          '--backbone-prefix', 'backbone.'])
    assert re.search(r"checkpoint .*r50\.pth does not hold the weights of the backbone of "
                     r"EncoderDecoder with TRTViT\('a'\): at best \(under the key prefix "
                     r"'backbone\.'\) 0 of its 264 weights fit, .*; pass a checkpoint of "
                     r'this backbone .*; try without --backbone-prefix', message), message
    assert_no_results(work)


def test_resume_auto_names_the_damaged_latest_checkpoint(files, tmp_path, toy_data):
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(files['truncated'], work / 'iter_8.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_8.pth'))
    message = run_tool('train', tool_argv('train', ROOT / SEG, None, work, toy_data, None)
                       + ['--resume'])
    assert message.startswith(f'error: cannot resume from checkpoint {work / "iter_8.pth"} '
                              f'(named in {work / "last_checkpoint"}): it is truncated'), message
    assert message.endswith(f'delete it and {work / "last_checkpoint"} to start afresh')


def test_fine_tuning_load_from_may_differ_in_part(files):
    """``load_from`` of a checkpoint with other heads (e.g. other classes) is mmdet's
    fine-tuning path: allowed, mmengine logs what it skips. Only a checkpoint that fits
    nothing is refused."""
    from trtvit_dense.apis import prepare_train_config
    from trtvit_dense.utils.checkpoint import CheckpointMismatch
    cfg = load_config(str(ROOT / SEG), {'model.decode_head.num_classes': 3,
                                        'load_from': str(files['good'])})
    prepare_train_config(cfg, SEG, work_dir=str(files['root'] / 'ft'))
    detector = save_checkpoint('configs/toy/retinanet_r50_fpn_toy.py',
                               files['root'] / 'retinanet_r50.pth')
    cfg = load_config(str(ROOT / SEG), {'load_from': str(detector)})
    with pytest.raises(CheckpointMismatch, match=rf'checkpoint {detector} does not match '
                       r"EncoderDecoder with TRTViT\('a'\): none of its \d+ weights fits"):
        prepare_train_config(cfg, SEG, work_dir=str(files['root'] / 'ft2'))


# -- data ---------------------------------------------------------------------------------

def broken_coco(toy_data: Path, tmp_path: Path, case: str) -> Path:
    """A copy of the toy COCO data with ``case`` applied to every annotation file."""
    root = tmp_path / 'data'
    shutil.copytree(toy_data / 'toy_coco', root / 'toy_coco')
    for ann in (root / 'toy_coco/annotations').glob('*.json'):
        data = json.loads(ann.read_text())
        if case == 'empty annotation list':
            data['annotations'] = []
        elif case == 'annotation of a missing image':
            data['annotations'][0]['image_id'] = 999999
        else:  # corrupt image: the first image cut to 100 bytes
            image = ann.parent.parent / ann.stem.split('_')[-1] / data['images'][0]['file_name']
            image.write_bytes(image.read_bytes()[:100])
        ann.write_text(json.dumps(data))
    return root


@pytest.mark.parametrize('tool', ['train', 'test', 'benchmark'])
@pytest.mark.parametrize('case, match', [
    ('empty annotation list', r"annotation file '.*instances_(train|val)\.json' "
     r'\((train|test)_dataloader\.dataset\) has an empty annotation list: nothing to train '
     r'on or score against'),
    ('annotation of a missing image', r"annotation 1 in '.*instances_(train|val)\.json' "
     r'\((train|test)_dataloader\.dataset\) refers to image_id 999999, which it does not '
     r'list; add the image or remove the annotation \[annotation-unknown-image\]'),
    ('corrupt image', r"'.*instances_(train|val)\.json' \((train|test)_dataloader\.dataset\): "
     r'1 images that are empty, truncated or cannot be decoded \(e\.g\. .*\.jpg\): as they '
     r'are, this crashes .*; fix the file, or let tools/compare\.py --check-only write a '
     r'repaired copy'),
])
def test_bad_dataset(tool, case, match, files, tmp_path, toy_data):
    data = broken_coco(toy_data, tmp_path, case)
    checkpoint = None if tool == 'train' else save_checkpoint(DET, tmp_path / 'det.pth')
    check(tool, ROOT / DET, checkpoint, match, tmp_path, data, files['image'])


def test_deploy_refuses_an_unreadable_image_before_exporting(files, tmp_path, toy_data):
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(100))
    check('deploy', ROOT / SEG, files['good'],
          rf'cannot decode image {broken}; verification needs readable images \(--images\)',
          tmp_path, toy_data, broken)


@pytest.mark.parametrize('name, image', [
    ('gray.png', np.full((70, 90), 128, np.uint8)),
    ('gray16.png', np.full((70, 90), 40000, np.uint16)),
    ('colour16.png', np.full((70, 90, 3), 50000, np.uint16)),
    ('rgba.png', np.full((70, 90, 4), 200, np.uint8)),
    ('huge.png', np.zeros((3000, 4000, 3), np.uint8)),
    ('tiny.png', np.zeros((5, 7, 3), np.uint8)),
])
@pytest.mark.parametrize('config', [SEG, DET])
def test_pipelines_read_any_png_at_the_model_scale(name, image, config, tmp_path):
    """What train/test/benchmark/infer feed the model: LoadImageFromFile makes 8-bit BGR
    of grayscale, 16-bit and RGBA PNGs, and the test pipeline's Resize brings huge and
    tiny images to the config's scale (160 px on the long side for the toy configs),
    inside every deploy profile; the documented resize of docs/limits_and_safety.md."""
    path = tmp_path / name
    assert cv2.imwrite(str(path), image)
    cfg = load_config(str(ROOT / config))
    dcfg = load_deploy_config(ROOT / DEPLOY_CFG[config])
    load = split_transforms(cfg, 'train', annotations=False)[0]  # LoadImageFromFile
    img = load(dict(img_path=str(path), img_id=0))['img']
    assert img.dtype == np.uint8 and img.shape == image.shape[:2] + (3, ), img.shape
    results = dict(img_path=str(path), img_id=0)
    for transform in split_transforms(cfg, 'test', annotations=False):
        results = transform(results)
    inputs = results['inputs']  # packed: [3, H, W] uint8
    assert inputs.dtype == torch.uint8 and inputs.shape[0] == 3, inputs.shape
    assert 160 in inputs.shape[1:], inputs.shape
    h, w = (-(-v // 32) * 32 for v in inputs.shape[1:])  # padded by the preprocessor
    assert (dcfg.min_shape[2] <= h <= dcfg.max_shape[2]
            and dcfg.min_shape[3] <= w <= dcfg.max_shape[3]), (h, w)


# -- deployed files -----------------------------------------------------------------------

def fake_onnx(path: Path, config: str, task: str) -> Path:
    """An identity graph carrying the signature of ``config``'s model and the toy deploy
    profile: all the tools read before running it."""
    graph = helper.make_graph(
        [helper.make_node('Identity', ['input'], ['out'])], 'g',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['b', 3, 'h', 'w'])],
        [helper.make_tensor_value_info('out', TensorProto.FLOAT, ['b', 3, 'h', 'w'])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)],
                              ir_version=8)
    signature = model_signature(Config.fromfile(str(ROOT / config)).model, task)
    deploy = load_deploy_config(ROOT / DEPLOY_CFG[config]).to_dict()
    helper.set_model_props(model, {METADATA_KEY: json.dumps(signature),
                                   DEPLOY_METADATA_KEY: json.dumps(deploy)})
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize('tool', ['test', 'infer', 'benchmark'])
def test_onnx_of_another_task(tool, files, tmp_path, toy_data):
    detector = fake_onnx(tmp_path / 'retinanet.onnx', DET, 'detection')
    argv = tool_argv(tool, ROOT / SEG, detector, tmp_path / 'work', toy_data, files['image'])
    if tool == 'benchmark':
        argv += ['--backends', 'onnxruntime']
    message = run_tool(tool, argv)
    assert re.search(rf"{detector} was exported from a different model: model_type: config "
                     r"has 'EncoderDecoder', .* has 'RetinaNet'", message), message
    assert_no_results(tmp_path / 'work')


def test_image_resized_outside_the_profile_is_named_and_skipped(files, tmp_path, capsys):
    graph = fake_onnx(tmp_path / 'upernet.onnx', SEG, 'segmentation')
    thin = tmp_path / 'thin.png'
    cv2.imwrite(str(thin), np.zeros((10, 3000, 3), np.uint8))  # resized to 1x160
    out = tmp_path / 'out'
    message = run_tool('infer', [str(ROOT / SEG), str(graph), str(thin), '--out-dir', str(out)])
    assert message == ('error: 1 of 1 images could not be read or predicted (listed under '
                       f'"failed" in predictions.json): {thin}')
    err = capsys.readouterr().err
    assert re.search(rf'cannot predict {thin}: input shape 1x3x1x160 is outside the deploy '
                     r'profile .*: each dim must lie between min 1x3x64x64 and max '
                     rf'2x3x512x512; the test pipeline made it from {thin}: deploy again '
                     'with a profile that covers it', err), err
    doc = json.loads((out / 'predictions.json').read_text())
    assert doc['images'] == [] and [f['image'] for f in doc['failed']] == [str(thin)]


def test_engine_built_for_another_profile(files, tmp_path, monkeypatch):
    """An engine whose own optimization profile is not the one in the manifest beside
    it (copied or rebuilt from another deploy) is refused when loaded."""
    from trtvit_dense.deploy import artifact
    from trtvit_dense.deploy import model as deployed
    from trtvit_dense.deploy.config import DeployConfigError
    engine_dir = tmp_path / 'deploy'
    engine_dir.mkdir()
    engine = engine_dir / 'end2end.engine'
    engine.write_bytes(b'engine')
    cfg = Config.fromfile(str(ROOT / SEG))
    dcfg = load_deploy_config(ROOT / DEPLOY_CFG[SEG])
    (engine_dir / 'manifest.json').write_text(json.dumps(dict(
        signature=model_signature(cfg.model, 'segmentation'), deploy_config=dcfg.to_dict())))

    class Engine:  # what TensorRTBackend reads from the engine: its profile
        min_shape, max_shape = (1, 3, 320, 320), (1, 3, 1344, 1344)

    monkeypatch.setattr(artifact, 'open_backend', lambda *args, **kwargs: Engine())
    with pytest.raises(DeployConfigError, match=re.escape(
            f'{engine} was built for the profile 1x3x320x320 to 1x3x1344x1344, but the '
            'manifest.json beside it describes 1x3x64x64 to 2x3x512x512: the engine comes '
            'from another deploy; build it again')):
        deployed.DeployedModel(str(engine), 'tensorrt', cfg.model.to_dict(), 'segmentation')
    Engine.min_shape, Engine.max_shape = dcfg.min_shape, dcfg.max_shape
    deployed.DeployedModel(str(engine), 'tensorrt', cfg.model.to_dict(), 'segmentation')


# -- loader settings ------------------------------------------------------------------

@pytest.mark.parametrize('tool', ['train', 'test', 'benchmark'])
@pytest.mark.parametrize('option, match', [
    ('batch_size=0', r'(train|test)_dataloader\.batch_size=0 must be an integer >= 1 \(images '
     r'per process\); fix the config or pass --cfg-options \w+_dataloader\.batch_size=1'),
    ('batch_size=-2', r'batch_size=-2 must be an integer >= 1'),
    ('num_workers=-1', r'(train|test)_dataloader\.num_workers=-1 must be an integer >= 0 '
     r'\(data-loading processes\); fix the config or pass --cfg-options '
     r'\w+_dataloader\.num_workers=0'),
])
def test_non_positive_loader_settings(tool, option, match, files, tmp_path, toy_data):
    split = 'train' if tool == 'train' else 'test'
    checkpoint = None if tool == 'train' else files['good']
    argv = tool_argv(tool, ROOT / SEG, checkpoint, tmp_path / 'work', toy_data,
                     files['image']) + [f'{split}_dataloader.{option}']
    message = run_tool(tool, argv)
    assert re.search(match, message), message
    assert_no_results(tmp_path / 'work')
