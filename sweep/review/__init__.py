"""The promotion review: a candidate replaces ``best/<SYMBOL>.json`` only if it wins (:mod:`.promote`), the review file
of each decision (:mod:`.review_file`) and the checks of promoted best files (:mod:`.promote_files`)."""

from .promote import PERSISTENCE, PromoteSettings, Review, promote
from .promote_files import read_promoted_best
from .review_file import mde_percent, power_sentence

__all__ = ["PERSISTENCE", "PromoteSettings", "Review", "promote", "read_promoted_best", "mde_percent", "power_sentence"]
