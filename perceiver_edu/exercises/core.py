"""Exercise checkers: compare a learner's code with the package's reference and answer with a hint.

Each chapter module (``ch01.py`` ...) registers its checkers with :func:`exercise`::

    @exercise("1.1", "Scaled dot-product attention", difficulty=1, chapter=1,
              teaches="the 1/sqrt(d) scaling and the softmax over the keys")
    def check_attention(fn):
        ...                                  # call fn on random inputs of several shapes
        if wrong_shape:
            raise Hint(f"shape (B, N, d_v) expected, got {tuple(out.shape)}")

A notebook's check cell calls :func:`check`, which prints one line (the same every run, so nbval
can compare it) and raises :class:`ExerciseError` with the hint when the answer is wrong.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable

STARS = {1: "★☆☆", 2: "★★☆", 3: "★★★"}


class Hint(AssertionError):
    """Raised by a checker: the learner's answer is wrong; the message says what to look at."""


class ExerciseError(AssertionError):
    """Raised by :func:`check` in a notebook when an exercise is not solved yet.

    An ``AssertionError``, as nbgrader expects of a failing test cell: its autograder gives the
    cell zero points and shows this message, hint included, in the student's feedback."""


@dataclass
class Exercise:
    id: str
    title: str
    difficulty: int  # 1 one-liner, 2 a function, 3 a whole block
    chapter: int
    teaches: str
    checker: Callable


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, title: str, difficulty: int, chapter: int, teaches: str = ""):
    """Decorator registering a checker under an exercise id such as ``"3.2"``."""
    def register(checker):
        if id in EXERCISES:
            raise ValueError(f"exercise {id} registered twice")
        EXERCISES[id] = Exercise(id, title, difficulty, chapter, teaches, checker)
        return checker
    return register


def run_checker(id: str, *answer) -> tuple[bool, str]:
    """Run exercise ``id``'s checker on the learner's ``answer``; return (passed, message)."""
    ex = EXERCISES[id]
    try:
        ex.checker(*answer)
    except Hint as hint:
        return False, str(hint)
    except NotImplementedError as err:
        return False, f"not written yet ({err})" if str(err) else "not written yet"
    except Exception as err:  # the learner's code crashed: say where, briefly
        frame = traceback.extract_tb(err.__traceback__)[-1]
        return False, (f"your code raised {type(err).__name__}: {err} (line {frame.lineno}: "
                       f"`{(frame.line or '').strip()}`)")
    return True, ex.title


def check(id: str, *answer) -> None:
    """Check exercise ``id`` in a notebook: print ``✅`` or raise :class:`ExerciseError` with a hint."""
    if id not in EXERCISES:
        raise KeyError(f"no exercise {id!r}; known: {sorted(EXERCISES)}")
    passed, message = run_checker(id, *answer)
    if passed:
        print(f"✅ Exercise {id} ({STARS[EXERCISES[id].difficulty]}) passed: {message}")
    else:
        raise ExerciseError(f"Exercise {id} is not right yet. Hint: {message}")
