"""Every command's --help ends with an example (commands added later need one in help_examples.py)."""
from __future__ import annotations


def command_paths(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from command_paths(command, prefix + (name,))
        else:
            yield prefix + (name,)


def test_every_commands_help_ends_with_an_example():
    import typer.main
    from typer.testing import CliRunner

    from dind_cluster.cli import app

    paths = list(command_paths(typer.main.get_command(app)))
    assert ("get", "kubeconfig") in paths and ("list",) in paths
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"], prog_name="dind-cluster", terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "Example:  $ " in result.output and "dind-cluster" in result.output.split("Example:")[1], path
