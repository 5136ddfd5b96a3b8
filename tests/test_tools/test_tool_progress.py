"""Long-running tools show progress on stderr and end with a one-line
summary on stdout: export_students, teacher_confidence, make_imagenet100."""
import importlib.util
import os
import os.path as osp

import torch
from PIL import Image

from tests.test_configs._tiny import REPO_ROOT, cfg_path


def _tool(rel: str):
    spec = importlib.util.spec_from_file_location(
        osp.basename(rel)[:-3], osp.join(REPO_ROOT, 'tools', rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_students_progress(tmp_path, capsys):
    tool = _tool('model_converters/export_students.py')
    state = {f'{n}.w{i}': torch.zeros(1) for n, k in (('r18', 3), ('mbv2', 5))
             for i in range(k)}
    state['teacher.w'] = torch.zeros(1)
    ckpt = str(tmp_path / 'udskd.pth')
    torch.save({'state_dict': state, 'meta': {}}, ckpt)
    out_dir = str(tmp_path / 'out')
    tool.main([cfg_path('udskd/udskd_logits_resnet50_resnet18-mobilenet-v2_'
                        '1xb64_cifar10.py'), ckpt, '--out-dir', out_dir])
    out, err = capsys.readouterr()
    assert f'[1/2] r18: 3 tensors -> {out_dir}/r18.pth' in err
    assert f'[2/2] mbv2: 5 tensors -> {out_dir}/mbv2.pth' in err
    assert out.strip().splitlines() == [
        f'exported 2 students (r18, mbv2; 8 tensors) to {out_dir}']


def test_teacher_confidence_progress(tmp_path, capsys):
    tool = _tool('analysis_tools/teacher_confidence.py')
    out_dir = str(tmp_path / 'conf')
    summary = tool.main([
        cfg_path('demo/resnet50_1xb64_digits.py'), '--max-samples', '24',
        '--batch-size', '10', '--out-dir', out_dir
    ])
    out, err = capsys.readouterr()
    assert '24/24' in err  # the progress bar reached every sample
    last = out.strip().splitlines()[-1]
    assert last.startswith('teacher confidence: 24 val samples in ')
    assert f"mean w {summary['weight_mean']:.3f}" in last
    assert f"{100 * summary['uncertain_ratio']:.1f}% with w < 0.5" in last
    assert last.endswith(osp.join(out_dir, 'summary.json'))
    assert '24/24' not in out


def test_make_imagenet100_progress(tmp_path, capsys):
    tool = _tool('dataset_converters/make_imagenet100.py')
    wnids = ['n01440764', 'n01443537']
    for split, n in (('train', 2), ('val', 1)):
        for wnid in wnids:
            os.makedirs(tmp_path / split / wnid)
            for i in range(n):
                Image.new('RGB', (4, 4)).save(
                    tmp_path / split / wnid / f'{wnid}_{i}.JPEG', 'JPEG')
    (tmp_path / 'classes.txt').write_text('\n'.join(wnids) + '\n')
    ann = tool.main([str(tmp_path), '--class-list',
                     str(tmp_path / 'classes.txt'), '--mode', 'symlink',
                     '--out-dir', str(tmp_path / 'in100')])
    out, err = capsys.readouterr()
    for what in ('scanning', 'linking train/', 'linking val/'):
        assert what in err
    assert '2/2' in err
    assert out.strip().splitlines() == [
        f'2 classes, 4 train and 2 val images; annotations in {ann}, '
        f'symlink tree in {tmp_path / "in100"}']
