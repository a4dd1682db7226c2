"""Layout and refactoring changes must not change a result: the results JSON of the demo sweeps
and of both stored SmolLM2 runs equals, byte for byte, the golden copies in tests/data/golden
(made by ``python tests/golden.py --update``; see that file for what is masked and when a
change may regenerate them)."""
from __future__ import annotations

import pytest

from golden import GOLDEN, cases, document

CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_document_is_byte_identical_to_golden(name):
    expected = (GOLDEN / f"{name}.json").read_text()
    got = document(*CASES[name])
    assert got == expected, (f"{name}: the results JSON changed; if the change is intended, "
                             "regenerate with `python tests/golden.py --update` and say why in the "
                             "commit")
