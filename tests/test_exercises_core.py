import pytest

from perceiver_edu.exercises import core


@pytest.fixture
def toy_exercise(monkeypatch):
    monkeypatch.setattr(core, "EXERCISES", {})

    @core.exercise("0.1", "double a number", difficulty=1, chapter=0)
    def check_double(fn):
        if fn(2) != 4:
            raise core.Hint(f"double(2) should be 4, got {fn(2)}")
    return "0.1"


def test_check_passes_and_prints(toy_exercise, capsys):
    core.check(toy_exercise, lambda x: 2 * x)
    assert "✅ Exercise 0.1" in capsys.readouterr().out


def test_check_wrong_answer_gives_hint(toy_exercise):
    with pytest.raises(core.ExerciseError, match="should be 4, got 3"):
        core.check(toy_exercise, lambda x: x + 1)


def test_crash_and_stub_are_reported_not_raised_raw(toy_exercise):
    def stub(x):
        raise NotImplementedError("write double()")
    assert core.run_checker(toy_exercise, stub) == (False, "not written yet (write double())")
    ok, msg = core.run_checker(toy_exercise, lambda x: x / 0)
    assert not ok and "ZeroDivisionError" in msg


def test_duplicate_registration_rejected(toy_exercise):
    with pytest.raises(ValueError, match="twice"):
        core.exercise("0.1", "again", difficulty=1, chapter=0)(lambda fn: None)
