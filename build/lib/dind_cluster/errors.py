"""The errors the tool reports to users: a message, an optional hint, an exit code."""


class DindError(Exception):
    """A known failure: the CLI prints `ERROR: <message>` (and the hint) and exits 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(DindError):
    """A setting has a bad value: names the variable, what is wrong and what is allowed."""

    def __init__(self, variable: str, problem: str, allowed: str, hint: str = "") -> None:
        super().__init__(f"{variable}: {problem}; {allowed}", hint)
        self.variable = variable


class DockerError(DindError):
    """The Docker engine refused or failed an operation."""


class EngineUnreachable(DockerError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            f"couldn't connect to the Docker engine {detail}",
            "is it running? set DOCKER_HOST if it listens somewhere else",
        )


class CommandFailed(DindError):
    """A command inside a node failed; keeps its argv and output for the report."""

    def __init__(self, where: str, argv: list, exit_code: int, output: str) -> None:
        tail = "\n".join(output.rstrip().splitlines()[-15:])
        super().__init__(
            f"{where}: '{' '.join(argv)}' exited with {exit_code}",
            tail,
        )
        self.argv = argv
        self.output = output
        self.command_exit_code = exit_code


class Timeout(DindError):
    """Waiting for something timed out; the hint carries what was last seen."""
