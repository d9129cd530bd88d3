"""aigc_course: the companion library of the AIGC course.

Chapters import from here what they have already built in the open. Nothing happens on import:
no downloads, no prints, no plots.
"""

__version__ = "0.1.0"
