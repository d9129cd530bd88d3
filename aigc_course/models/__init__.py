"""Models of the course, one family per module (gan, dcgan, mixture, attention, transformer, ...).

Import what you need from its module, e.g. ``from aigc_course.models import gan``; nothing is imported here.
"""
