"""One exception type whose message is the whole, one-line story: what file, what is wrong, what to do."""


class UnmtError(Exception):
    """Raised for bad input; the CLI prints ``error: <message>`` and exits 2 without a traceback."""


def fail(path, problem: str, fix: str) -> "UnmtError":
    return UnmtError(f"{path}: {problem} -- {fix}")
