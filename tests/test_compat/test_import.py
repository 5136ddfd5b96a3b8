"""The plugin imports first, then MMRazor's models import on this stack."""
import subprocess
import sys


def test_import_plugin_then_mmrazor_models():
    code = ('import mmrazor_udskd, mmrazor.models\n'
            'from mmrazor.registry import MODELS\n'
            'print("KD" if MODELS.get("SingleTeacherDistill") else "")')
    proc = subprocess.run([sys.executable, '-c', code], text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().endswith('KD')


def test_mmpretrain_pkg_base_configs_load(repo_root):
    # mmengine resolves ``mmpretrain::`` bases through pkg_resources
    # (setuptools < 81); our KD config inherits several of them.
    from mmengine.config import Config
    cfg = Config.fromfile(
        f'{repo_root}/configs/kd/kd_logits_resnet50_resnet18_8xb8_in100.py')
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.model.type == 'CheckedSingleTeacherDistill'
    assert cfg.model.architecture.head.loss.loss_weight == 0.3
    assert cfg.model.distiller.distill_losses.loss_kl.loss_weight == 0.7
    assert cfg.model.distiller.distill_losses.loss_kl.tau == 4
    assert cfg.optim_wrapper.optimizer.lr == 0.1
    assert cfg.train_dataloader.batch_size * 8 == 64
    assert cfg.custom_imports.imports == ['mmrazor_udskd']
