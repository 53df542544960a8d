"""``semmol --help`` says what semmol is and lists the user commands before the pipeline stages."""

from __future__ import annotations

import pytest

from semmol.cli.main import USER_COMMANDS, main, pipeline_stages, subcommands


def _help_text(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["--help"])
    return capsys.readouterr().out


def _listed_at(text: str, name: str) -> int:
    """The line number where ``name`` opens a line of the command lists."""
    lines = text.splitlines()
    return next(number for number, line in enumerate(lines) if line.startswith(f"  {name} "))


def test_help_says_what_semmol_is(capsys):
    text = _help_text(capsys)
    assert "semmol: semantic-level multimodal molecular representation learning" in text


def test_help_lists_every_user_command_before_every_pipeline_stage(capsys):
    text = _help_text(capsys)
    last_user_command = max(_listed_at(text, name) for name in USER_COMMANDS)
    first_stage = min(_listed_at(text, name) for name in pipeline_stages())
    assert last_user_command < first_stage
    assert text.index("commands:") < text.index("pipeline stages")


def test_every_user_command_is_a_subcommand():
    assert set(USER_COMMANDS) <= set(subcommands())
