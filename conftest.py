"""pytest set-up shared by the unit tests and nbval.

Notebooks run in quick mode on the CPU under pytest unless the caller says otherwise, so that
their compared outputs never depend on a GPU.  The kernel nbval starts inherits this environment.

Data: a notebook (by ``NOTEBOOK_DATASETS``) or a test marked ``@pytest.mark.needs_data("fsdd", ...)``
whose dataset can be had neither locally nor by download is skipped with the reason; with
``PERCEIVER_EDU_REQUIRE_DATA=1`` (CI) it fails instead.
"""
import functools
import os

import pytest

os.environ.setdefault("PERCEIVER_EDU_MODE", "quick")
os.environ.setdefault("PERCEIVER_EDU_DEVICE", "cpu")
os.environ.setdefault("TQDM_MININTERVAL", "5")

from perceiver_edu.data import availability, modelnet  # noqa: E402  (after the environment above)

_missing = functools.lru_cache(maxsize=None)(availability.missing_reason)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_data(*names): the test reads these datasets "
                                       "(fashion-mnist, mnist, fsdd, modelnet10); skipped where they cannot be had")


def _needed(item):
    if item.path.suffix == ".ipynb":
        return availability.NOTEBOOK_DATASETS.get(item.path.stem, ())
    return tuple(name for mark in item.iter_markers("needs_data") for name in mark.args)


# Chapter 9's committed outputs come from the voxel-grid alternative, the ModelNet10 copy CI has.  Where
# its load_modelnet10(data="auto") reads the meshes instead, its outputs differ by design: every cell
# still runs (an error fails), none is compared.
OUTPUTS_FROM_MODELNET10_VOXELS = ("09_point_clouds",)


def pytest_collection_modifyitems(config, items):
    on_meshes = functools.lru_cache(maxsize=None)(lambda: modelnet.auto_source() == "meshes")
    for item in items:
        if item.path.stem in OUTPUTS_FROM_MODELNET10_VOXELS and hasattr(item, "options") and on_meshes():
            item.options["check"] = False
        reasons = [r for r in map(_missing, _needed(item)) if r]
        if reasons:
            item.user_properties.append(("missing_data", "; ".join(reasons)))
            if not availability.require_data():
                item.add_marker(pytest.mark.skip(reason="data missing: " + "; ".join(reasons)))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if not availability.require_data():
        return
    for key, reason in item.user_properties:
        if key == "missing_data":
            pytest.fail(f"{availability.REQUIRE_DATA_VAR} is set and data is missing: {reason}", pytrace=False)
