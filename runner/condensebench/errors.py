"""User-facing errors: the CLI prints them as one clear message, never a traceback."""


class CondenseBenchError(Exception):
    """An error caused by input (a file, a flag, missing data), explained for the user."""


class SchemaError(CondenseBenchError):
    """A YAML file does not match its schema; the message names the file and the fields."""

    def __init__(self, path, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{self.path}: invalid\n{lines}")


class DataMissingError(CondenseBenchError):
    """A dataset's files are not where the card says they should be."""
