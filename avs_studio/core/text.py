"""Words for one-line summaries: counts with the right plural ("1 clip", "2 clips")."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "clip")`` -> ``"1 clip"``; ``plural(3, "clip")`` -> ``"3 clips"``.

    ``many`` spells irregular plurals (``plural(2, "was", "were")`` -> ``"2 were"``).
    """
    return f"{n} {noun if n == 1 else (many or noun + 's')}"
