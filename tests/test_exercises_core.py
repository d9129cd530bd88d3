import pytest

from aigc_course.exercises.core import CALLS, REGISTRY, ExerciseFailed, ExerciseNotSolved, exercise


@pytest.fixture
def square_checker():
    @exercise("test.square")
    def check(fn):
        for x in (0, 2, -3):
            assert fn(x) == x * x, f"square({x}) should be {x * x}, got {fn(x)}"

    yield check
    del REGISTRY["test.square"]


def test_passed_failed_unsolved(square_checker):
    assert square_checker(lambda x: x * x).status == "passed"
    wrong = square_checker(lambda x: x + 1)
    assert wrong.status == "failed" and wrong.message == "square(0) should be 0, got 1"
    assert square_checker(None).status == "unsolved"
    assert square_checker(...).status == "unsolved"

    def stub(x):
        raise NotImplementedError

    assert square_checker(stub).status == "unsolved"
    crashed = square_checker(lambda x: x.nope)
    assert crashed.status == "failed" and "AttributeError" in crashed.message
    assert repr(square_checker(lambda x: x * x)) == "✅ test.square: passed"
    assert repr(square_checker(None)) == "✏️ test.square: unsolved — replace the placeholder with your answer"
    assert CALLS[-1].name == "test.square"


def test_strict_mode_raises(square_checker, monkeypatch):
    with pytest.raises(ExerciseNotSolved):
        square_checker(None, strict=True)
    with pytest.raises(ExerciseFailed, match="square\\(-3\\) should be 9"):
        square_checker(lambda x: 2 * x, strict=True)
    monkeypatch.setenv("AIGC_STRICT_EXERCISES", "1")
    with pytest.raises(ExerciseNotSolved):
        square_checker(None)
    assert square_checker(lambda x: x * x).passed


def test_names_are_unique(square_checker):
    with pytest.raises(ValueError, match="already registered"):
        exercise("test.square")(lambda a: None)
