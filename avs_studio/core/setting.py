"""The three AVSBench settings and what each fixes: frames per clip, classes, layout."""

from __future__ import annotations

from enum import Enum


class Setting(str, Enum):
    """An AVSBench setting: single-source (S4), multi-source (MS3) or semantic (AVSS)."""

    S4 = "s4"
    MS3 = "ms3"
    AVSS = "avss"

    @property
    def frames_per_clip(self) -> int:
        """Time steps the official loader feeds the model per clip (AVSS pads to 10)."""
        return 10 if self is Setting.AVSS else 5

    @property
    def num_classes(self) -> int:
        """Output channels of the model: 1 (binary logit) or 71 (AVSS classes)."""
        return 71 if self is Setting.AVSS else 1

    @property
    def is_binary(self) -> bool:
        """True for S4 and MS3, whose masks are foreground/background."""
        return self is not Setting.AVSS

    @classmethod
    def parse(cls, value: str | Setting) -> Setting:
        """Accept 's4', 'S4', 'ms3', 'avss' (or a Setting) and return the Setting."""
        if isinstance(value, Setting):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"unknown setting {value!r}: expected one of s4, ms3, avss") from None
