"""The packages of the one distribution, found in the product's folders, so a new server or
subpackage is added by adding its folder. Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

# The folders keep the product's layout; everything installs under the one import name `toolpark`,
# so nothing generic (`core`, `plugins`) lands at the top of site-packages. Kept in step with
# [tool.setuptools.package-dir] (tests/test_layout.py builds the wheel and checks every file is in it).
FOLDERS = {"toolpark": "core", "toolpark.compose": "compose", "toolpark.mcp_servers": "mcp_servers",
           "toolpark.plugins": "plugins"}  # fmt: skip

_NOT_CODE = ["*__pycache__*", "*.egg-info*"]

setup(
    packages=[
        package
        for name, folder in FOLDERS.items()
        # Namespace packages too: the folders that hold data (SQL migrations, recorded answers, the
        # plugin template) are packages to setuptools, which otherwise warns about each, at length.
        for package in (name, *(f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=_NOT_CODE)))
    ]
)
