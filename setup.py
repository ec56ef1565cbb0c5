"""tfaxdnn: approximate DNNs on TensorFlow/Keras with a compiled LUT op.

Install with ``pip install --no-build-isolation .`` (the op is compiled against the TensorFlow already
installed; build isolation would pull a second TensorFlow). ``make test`` / ``make demo`` do this in ``.venv``.
"""

import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildTFOp(build_ext):
    """Compiles the TF custom op with the flags of the installed TensorFlow (``tf.sysconfig``)."""

    def build_extension(self, ext):
        sys.path.insert(0, os.path.join(HERE, "tfaxdnn", "ops"))
        try:
            import build as op_build  # tfaxdnn/ops/build.py, importable without importing tfaxdnn
        finally:
            sys.path.pop(0)
        op_build.build(self.get_ext_fullpath(ext.name))


def _version():
    with open(os.path.join(HERE, "tfaxdnn", "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=")[1].strip().strip('"')
    raise RuntimeError("version not found")


def _requirements(name):
    """Requirement lines of a pip requirements file; ``-r other.txt`` includes are followed."""
    requirements = []
    with open(os.path.join(HERE, name)) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line.startswith("-r"):
                requirements += _requirements(line[2:].strip())
            elif line:
                requirements.append(line)
    return requirements


setup(
    name="tfaxdnn",
    version=_version(),
    description="Approximate deep neural networks on TensorFlow/Keras: EvoApprox8b LUT multipliers, XAI-guided "
                "approximation, NAS and fine-grain mapping",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["tfaxdnn", "tfaxdnn.*"]),
    package_data={
        "tfaxdnn.multipliers": ["data/*.npz", "data/*.csv", "data/README.md"],
        "tfaxdnn.data": ["*.npz", "README.md"],
        "tfaxdnn.models": ["weights/*.keras", "weights/*.json"],
        "tfaxdnn.ops": ["cc/*.cc", "cc/*.h"],
    },
    ext_modules=[Extension("tfaxdnn.ops._tfaxdnn_ops", sources=[])],
    cmdclass={"build_ext": BuildTFOp},
    install_requires=_requirements("requirements.txt"),
    extras_require={"test": _requirements("requirements-dev.txt")},
    entry_points={"console_scripts": ["tfaxdnn=tfaxdnn.cli:main",
                                      "tfaxdnn-transform-graph=tfaxdnn.cli.transform_graph:main"]},
)
