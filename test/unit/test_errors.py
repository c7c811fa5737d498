"""The one error mechanism: every message is one line, whatever the user's value holds."""
import pytest

from dind_cluster.errors import ConfigError, DindError, one_line
from dind_cluster.ui import format_error


@pytest.mark.parametrize("value", [
    "a\nb", "a\rb", "a\r\nb", "\x1b[31mred", "a\x00b", "a\u2028b", "a\x85b", "a\x1cb", "\udcff", "tab\there",
])
def test_control_characters_never_make_a_second_line(value):
    text = format_error(ConfigError("NUM_NODES", f"'{value}' is bad", "use 1").message)
    assert len(text.splitlines()) == 1
    assert text.startswith("ERROR: NUM_NODES: ")
    assert "\x1b" not in text and "\x00" not in text
    text.encode("utf-8")  # printable on any UTF-8 terminal (no lone surrogates)


def test_plain_text_is_left_alone():
    assert one_line("10.0.0.0/8 née ² ok") == "10.0.0.0/8 née ² ok"


def test_hint_lines_are_cleaned_but_kept_as_lines():
    text = format_error("boom", "first\n\x1b[2Jsecond")
    assert text.splitlines() == ["ERROR: boom", "first", "\\x1b[2Jsecond"]


def test_dind_error_message_is_cleaned_at_the_source():
    assert DindError("x\ny").message == "x\\ny"
