"""model-index.yml, the per-method metafile.yml and README.md files: every
model names an existing config, every config of a method folder is listed,
the files follow MMRazor's layout, and mmengine's hub finds configs through
them (``mmengine.hub.get_config('mmrazor_udskd::...')``)."""
import glob
import os.path as osp
import re

import pytest
import yaml

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TABLE_HEADER = ('| Location | Dataset | Teacher | Student | Acc | Acc(T) | '
                'Acc(S) | Config | Download |')


def load(rel: str) -> dict:
    with open(osp.join(REPO_ROOT, rel)) as f:
        return yaml.safe_load(f)


def metafiles() -> list:
    return load('model-index.yml')['Import']


def method_dirs() -> list:
    return sorted({osp.dirname(m) for m in metafiles()})


def test_index_lists_every_method_folder_with_a_metafile():
    listed = set(metafiles())
    on_disk = {
        osp.relpath(p, REPO_ROOT)
        for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'metafile.yml'))
    }
    assert listed == on_disk
    for method in ('udskd', 'ckd', 'dkel', 'kd'):
        assert f'configs/{method}/metafile.yml' in listed


@pytest.mark.parametrize('metafile', metafiles())
def test_metafile_matches_the_configs(metafile):
    meta = load(metafile)
    folder = osp.dirname(metafile)
    collections = {c['Name']: c for c in meta['Collections']}
    assert len(collections) == 1
    for coll in collections.values():
        assert re.fullmatch(r'https://arxiv\.org/abs/\d{4}\.\d{5}',
                            coll['Paper']['URL'])
        assert coll['Paper']['Title']
        assert coll['README'] == f'{folder}/README.md'
        assert osp.isfile(osp.join(REPO_ROOT, coll['README']))
        assert coll['Metadata']['Training Data']
    names = [m['Name'] for m in meta['Models']]
    assert len(names) == len(set(names)), 'a model listed twice'
    for model in meta['Models']:
        assert model['In Collection'] in collections
        assert model['Config'] == f"{folder}/{model['Name']}.py"
        assert osp.isfile(osp.join(REPO_ROOT, model['Config'])), model
        assert 'Weights' not in model  # none published
        md = model['Metadata']
        assert md['Location'].startswith('logits')
        nets = [md.get('Teacher'), md.get('Student')]
        nets += list(md.get('Students', {}).values())
        nets = [n for n in nets if n is not None]
        assert nets, f'{model["Name"]} names no teacher/student config'
        for net in nets:
            assert osp.isfile(osp.join(REPO_ROOT, net['Config'])), net
        for result in model.get('Results', []):
            assert result['Task'] == 'Image Classification'
            assert 'CPU-scale' in result['Dataset']  # labelled as such
            for value in result['Metrics'].values():
                assert 0.0 <= value <= 100.0
    configs = {
        osp.basename(p)[:-3]
        for p in glob.glob(osp.join(REPO_ROOT, folder, '*.py'))
    }
    assert set(names) == configs


@pytest.mark.parametrize('folder', method_dirs())
def test_readme_in_mmrazor_format(folder):
    with open(osp.join(REPO_ROOT, folder, 'README.md')) as f:
        text = f.read()
    meta = load(f'{folder}/metafile.yml')
    paper = meta['Collections'][0]['Paper']
    assert text.startswith(f"# {meta['Collections'][0]['Name']}\n")
    assert f"> [{paper['Title']}]({paper['URL']})" in text
    for section in ('## Abstract', '## Results and models', '## Citation'):
        assert section in text
    assert TABLE_HEADER in text
    assert re.search(r'```latex\n@\w+\{', text)
    arxiv_id = paper['URL'].rsplit('/', 1)[1]
    assert arxiv_id in text.split('## Citation')[1]  # BibTeX of this paper
    # every relative link points at a file that exists
    for target in re.findall(r'\]\((\.{1,2}/[^)#]+)', text):
        assert osp.exists(osp.normpath(osp.join(REPO_ROOT, folder, target))), \
            target
    # every Acc in the table is one of the metafile's results (or none)
    results = set()
    for model in meta['Models']:
        for result in model.get('Results', []):
            results |= {f'{v:.2f}' for v in result['Metrics'].values()}
    for row in re.findall(r'^\| logits.*$', text, flags=re.M):
        acc = [c.strip() for c in row.strip('|').split('|')][4]
        assert acc == '–' or acc in results, row
    if results:
        assert 'CPU-scale' in text and '../../docs/results.md' in text


def test_hub_finds_configs_through_the_metafiles():
    import mmrazor_udskd  # noqa: F401  (registers the scope)
    from mmengine.hub import get_config
    name = 'udskd_logits_resnet50_resnet18-mobilenet-v2_no-peer_1xb64_cifar10'
    cfg = get_config(f'mmrazor_udskd::udskd/{name}.py')
    assert cfg.model.gamma == 0.0 and cfg.model.beta == 0.4
    assert cfg.filename.endswith(
        osp.join('.mim', 'configs', 'udskd', f'{name}.py'))
