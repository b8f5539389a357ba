"""Next-ViT (timm's network) deploys like TRT-ViT: dynamic ONNX in its deploy form
(pre-norms merged, the token pooling in 2-D), verified against PyTorch at odd shapes
and batch 2, with no TensorRT lint error for 10.0 or 10.15; so does Semantic FPN (the
papers' segmentation head) with Next-ViT."""
import pytest

from trtvit_dense.deploy.onnx.lint import lint_versions

pytestmark = pytest.mark.slow

CASES = {
    'retinanet': ('configs/retinanet/retinanet_nextvit-s_fpn_1x_coco.py',
                  'configs/deploy/detection_dynamic-64x64-448x448.py', 'toy_coco/val',
                  ['model.test_cfg.score_thr=0.005']),
    'upernet': ('configs/upernet/upernet_nextvit-s_4xb4-160k_ade20k-512x512.py',
                'configs/deploy/segmentation_dynamic-64x64-512x512.py',
                'toy_ade/ADEChallengeData2016/images/validation', []),
    # Semantic FPN (the papers' head). With TRT-ViT-A the untrained head's 150 logits
    # tie at ~1% of the pixels, below the label check's 99.9%: its graph is checked on
    # logits in test_rewrite_segmentation.py instead
    'semantic_fpn': ('configs/sem_fpn/fpn_nextvit-s_4xb4-80k_ade20k-512x512.py',
                     'configs/deploy/segmentation_dynamic-64x64-512x512.py',
                     'toy_ade/ADEChallengeData2016/images/validation', []),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_next_vit_deploys_verifies_and_lints_clean(case, toy_data, tmp_path, capsys):
    """About 10-20 s each: a seeded random-init full-size model (Next-ViT-S) exported,
    then verified at two shapes on ONNX Runtime."""
    from conftest import ROOT, save_checkpoint

    from tools import deploy as deploy_tool
    config, deploy_cfg, images, options = CASES[case]
    ckpt = save_checkpoint(config, tmp_path / 'model.pth')
    work = tmp_path / 'deploy'
    deploy_tool.main([str(ROOT / config), str(ckpt), '--work-dir', str(work),
                      '--deploy-cfg', str(ROOT / deploy_cfg), '--images',
                      str(toy_data / images), *(['--cfg-options', *options] if options else []),
                      '--deploy-options', 'verify.shapes=[[1,3,97,131],[2,3,160,224]]'])
    out = capsys.readouterr().out
    assert 'verification passed at all shapes' in out, out
    assert 'TensorRT lint: 0 errors' in out
    for version, issues in lint_versions(work / 'end2end.onnx').items():
        errors = [i for i in issues if i.severity == 'error']
        assert errors == [], (version, errors[:3])


@pytest.mark.parametrize('precision', ['fp16', 'int8'])
def test_next_vit_fp16_and_int8_graphs(precision, toy_data, tmp_path, capsys):
    """The reduced-precision graphs of Next-ViT-S (the toy classifier: its scores are
    what verification compares) verify at the profile's six shapes, and the fp16 graph
    and the int8 graph of TensorRT's Q/DQ scheme lint clean for 10.0 and 10.15."""
    from conftest import ROOT, save_checkpoint

    from tools import deploy as deploy_tool
    config = 'configs/toy/classifier_nextvit-s_toy.py'
    images = toy_data / 'toy_imagenet' / 'val' / 'circle'
    ckpt = save_checkpoint(config, tmp_path / 'model.pth')
    work = tmp_path / 'deploy'
    deploy_tool.main([str(ROOT / config), str(ckpt), '--work-dir', str(work),
                      '--deploy-cfg', str(ROOT / 'configs/deploy/classification_dynamic-64x64-'
                                          '224x224.py'),
                      '--images', str(images), '--precision', precision,
                      *(['--calib-data', str(images)] if precision == 'int8' else [])])
    out = capsys.readouterr().out
    assert 'verification passed at all shapes' in out, out
    graph = work / f'end2end_{precision}.onnx'
    assert graph.is_file()
    if precision == 'int8':
        # the deploy above made ONNX Runtime's scheme (uint8 activations); TensorRT's
        # (symmetric, zero point 0) is the one its parser must take
        import numpy as np

        from trtvit_dense.deploy.quantize.int8 import quantize_int8

        class Batches:
            def __init__(self):
                rng = np.random.default_rng(0)
                self.items = [{'input': rng.normal(size=(1, 3, 112, 112)).astype(np.float32)}
                              for _ in range(4)]

            def get_next(self):
                return self.items.pop() if self.items else None
        graph = tmp_path / 'end2end_int8_tensorrt.onnx'
        quantize_int8(work / 'end2end.onnx', graph, Batches(), target='tensorrt')
    for version, issues in lint_versions(graph).items():
        assert [i for i in issues if i.severity == 'error'] == [], version
