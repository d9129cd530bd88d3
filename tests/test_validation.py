import pytest

from aigc_course.validation import dropout_rate, positive_int, positive_ints


class Cfg:
    width, depth, flag = 4, 0, True


def test_positive_int_accepts_and_refuses():
    assert positive_int("width", 3) == 3
    for bad in (0, -2):
        with pytest.raises(ValueError, match=f"width must be a positive int, got {bad!r}"):
            positive_int("width", bad)
    for bad in (2.0, "3", True):
        with pytest.raises(TypeError, match=f"width must be a positive int, got {bad!r}"):
            positive_int("width", bad)


def test_positive_ints_names_the_bad_field():
    positive_ints(Cfg(), "width")
    with pytest.raises(ValueError, match="depth must be a positive int, got 0"):
        positive_ints(Cfg(), "width", "depth")
    with pytest.raises(TypeError, match="flag must be a positive int, got True"):
        positive_ints(Cfg(), "flag")


def test_dropout_rate():
    assert dropout_rate(0.0) == 0.0 and dropout_rate(0.5) == 0.5
    with pytest.raises(ValueError, match=r"p_drop must be in \[0, 1\), got 1.0"):
        dropout_rate(1.0, name="p_drop")
