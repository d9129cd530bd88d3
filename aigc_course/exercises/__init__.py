"""Exercise checkers. Each chapter has a module (``ch01``, ``ch02`` ...) of checkers built with
:func:`aigc_course.exercises.core.exercise`; see that module for the conventions.
"""

from aigc_course.exercises.core import REGISTRY, ExerciseFailed, ExerciseNotSolved, Result, exercise

__all__ = ["REGISTRY", "ExerciseFailed", "ExerciseNotSolved", "Result", "exercise"]
