"""The suite's own layout: pytest (prepend import mode, no __init__.py) refuses two test modules with
one basename, and then collects nothing at all — a CI run that ends before any test."""
from collections import Counter
from pathlib import Path

TEST_ROOT = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_share_a_basename():
    names = Counter(path.name for path in TEST_ROOT.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
