"""Install mmrazor_udskd: ``pip install -e ".[lite,tests]"``.

``lite`` pulls the pure-Python ``mmcv-lite``; users with a full ``mmcv``
build (GPU ops) install that first and leave the extra out, so the two never
fight over the ``mmcv`` module.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
# ``mmrazor_udskd::udskd/<config>.py`` reads <package>/.mim/configs (and the
# metafiles through .mim/model-index.yml), as for every OpenMMLab package.
# The repository links both there; a wheel copies what the links point to.
MIM_ITEMS = ('configs', 'model-index.yml')


def ensure_mim() -> None:
    """Restore the .mim links where a checkout without symlinks (Windows)
    left them as text files: a link again, or else a copy."""
    mim = osp.join(HERE, 'mmrazor_udskd', '.mim')
    for name in MIM_ITEMS:
        path, source = osp.join(mim, name), osp.join(HERE, name)
        if osp.islink(path) or osp.isdir(path) or not osp.exists(source):
            continue  # the link, a copy of the folder, or an sdist's copy
        os.makedirs(mim, exist_ok=True)
        if osp.lexists(path):
            os.remove(path)
        try:
            os.symlink(osp.join('..', '..', name), path)
        except OSError:
            copy = shutil.copytree if osp.isdir(source) else shutil.copyfile
            copy(source, path)


ensure_mim()


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmrazor_udskd', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmrazor_udskd',
    version=read_version(),
    description='Uncertainty-aware dual-student knowledge distillation '
    '(arXiv 2511.18826), CKD and DKEL for MMRazor',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(include=['mmrazor_udskd', 'mmrazor_udskd.*']),
    package_data={
        'mmrazor_udskd': [
            # the ImageNet-100 class list (100 public WordNet IDs)
            'datasets/*.txt',
            # the configs, method READMEs and metafiles, for mmrazor_udskd::
            '.mim/model-index.yml',
            '.mim/configs/**/*.py',
            '.mim/configs/**/*.txt',
            '.mim/configs/**/*.md',
            '.mim/configs/**/*.yml',
        ]
    },
    python_requires='>=3.8',
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'mmengine>=0.10,<0.11',
        'mmpretrain>=1.2,<1.3',
        'mmrazor==1.0.0',
        # mmengine's ``pkg::`` configs (``mmpretrain::...``) use pkg_resources
        'setuptools<81',
        # mmrazor.models imports joblib unconditionally
        'joblib',
        # the offline demo's real data set (8x8 digits) ships with sklearn
        'scikit-learn',
        'matplotlib',
    ],
    extras_require={
        'lite': ['mmcv-lite==2.1.0'],
        'tests': ['pytest', 'pytest-reverse', 'pytest-xdist', 'scipy'],
        # tools/train.py --vis tensorboard
        'tensorboard': ['tensorboard'],
    },
)
