"""Install mmrazor_udskd: ``pip install -e ".[lite,tests]"``.

``lite`` pulls the pure-Python ``mmcv-lite``; users with a full ``mmcv``
build (GPU ops) install that first and leave the extra out, so the two never
fight over the ``mmcv`` module.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    here = osp.dirname(osp.abspath(__file__))
    with open(osp.join(here, 'mmrazor_udskd', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmrazor_udskd',
    version=read_version(),
    description='Uncertainty-aware dual-student knowledge distillation '
    '(arXiv 2511.18826), CKD and DKEL for MMRazor',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmrazor_udskd', 'mmrazor_udskd.*']),
    # the ImageNet-100 class list (100 public WordNet IDs)
    package_data={'mmrazor_udskd': ['datasets/*.txt']},
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
        'tests': ['pytest', 'pytest-reverse', 'scipy'],
    },
)
