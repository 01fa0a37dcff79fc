"""The one exception a user's mistake raises: the CLI prints it and exits 2, without a traceback."""


class UserError(Exception):
    """Bad input or a bad setting. The message names the file and line where there is one."""

    def __init__(self, message: str, path=None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line
