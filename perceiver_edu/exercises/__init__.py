"""Exercises: one checker per exercise, registered by chapter module.

``check("1.1", my_attention)`` in a notebook prints a pass line or raises a hint.
"""
from .core import EXERCISES, Exercise, ExerciseError, Hint, check, exercise, run_checker

# Importing the chapter modules registers their checkers.
import importlib as _importlib
import pkgutil as _pkgutil

for _mod in _pkgutil.iter_modules(__path__):
    if _mod.name.startswith("ch"):
        _importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["EXERCISES", "Exercise", "ExerciseError", "Hint", "check", "exercise", "run_checker"]
