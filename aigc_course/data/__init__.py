"""Data for the course: image sets, 2-D toy distributions and text corpora, as tensors.

Nothing is loaded or downloaded on import; each loader does its work when called.
"""

from aigc_course.data.images import IMAGE_DATASETS, DataFallbackWarning, ImageData, load_images
from aigc_course.data.text import CORPORA, CharTokenizer, get_batch, load_corpus, train_val_split
from aigc_course.data.toy import TOY_DISTRIBUTIONS, ToyDistribution, mode_coverage, toy_distribution

__all__ = [
    "IMAGE_DATASETS",
    "DataFallbackWarning",
    "ImageData",
    "load_images",
    "TOY_DISTRIBUTIONS",
    "ToyDistribution",
    "mode_coverage",
    "toy_distribution",
    "CORPORA",
    "CharTokenizer",
    "get_batch",
    "load_corpus",
    "train_val_split",
]
