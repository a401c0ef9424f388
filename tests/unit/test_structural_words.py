"""The words the proxy skips when scanning (roles, keys, finish reasons) hold no finding."""

from __future__ import annotations

import pytest

from sovgw.domain import dlp
from sovgw.proxy.core import STRUCTURAL_WORDS


@pytest.mark.parametrize("word", sorted(STRUCTURAL_WORDS))
def test_a_structural_word_holds_no_finding(word: str) -> None:
    assert dlp.detect(word) == []
