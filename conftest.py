"""pytest set-up shared by the unit tests and nbval.

Notebooks run in quick mode on the CPU under pytest unless the caller says otherwise, so that
their compared outputs never depend on a GPU.  The kernel nbval starts inherits this environment.
"""
import os

os.environ.setdefault("PERCEIVER_EDU_MODE", "quick")
os.environ.setdefault("PERCEIVER_EDU_DEVICE", "cpu")
os.environ.setdefault("TQDM_MININTERVAL", "5")
