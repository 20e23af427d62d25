"""Every error specrec reports to a user, and the exit code each one means.

Exit codes are decided here and nowhere else (black's ``report.py`` habit): 0 ok, 1 a fit or
another computation failed, 2 bad input (spec, options, data), 130 interrupted (Ctrl-C: 128 +
SIGINT, as a shell reports a process the signal ended).  The CLI catches ``SpecrecError``
and prints ``str(error)``; nothing a user can cause should reach them as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

#: The most characters of a found value an error shows.  A message quotes what it found so the
#: user can recognise it; a whole 10,000-character cell or a pasted list would bury the rest.
FOUND_LIMIT = 80


def shorten(text: str, limit: int = FOUND_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, ``...`` standing for the cut middle.

    Every found value an error shows goes through here (``Problem.format`` included).  The
    middle goes, not the end: the start says what the value is, and the end keeps a path's
    file name and a quoted value's closing quote.
    """
    if len(text) <= limit:
        return text
    tail = (limit - 3) // 3
    return text[: limit - 3 - tail] + "..." + text[len(text) - tail :]


def shown(value: object) -> str:
    """A found value as a message quotes it: its ``repr``, shortened (``'u1'``, ``'ab...yz'``)."""
    return shorten(repr(value))


class SpecrecError(Exception):
    """Base of all errors meant for a user; ``exit_code`` says how the CLI ends."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where it is, and what was expected and found."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    expected: str | None = None
    found: str | None = None
    hint: str | None = None

    def format(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        head = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        lines = [head]
        if self.expected is not None:
            lines.append(f"    expected: {self.expected}")
        if self.found is not None:
            lines.append(f"    found:    {shorten(self.found)}")
        if self.hint:
            lines.append(f"    hint:     {self.hint}")
        return "\n".join(lines)


class SpecError(SpecrecError):
    """All problems found in one spec file, reported together."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(
            problems, key=lambda p: (p.file, p.line or 0, p.column or 0, p.path, p.message)
        )
        super().__init__(self.format())

    def format(self) -> str:
        n = len(self.problems)
        body = "\n".join(p.format() for p in self.problems)
        return f"{body}\n{n} problem{'s' if n != 1 else ''} found"


class DataError(SpecrecError):
    """Bad data: names the file and, where there is one, the row (1-based, as editors count)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, file: str | None = None, row: int | None = None):
        self.file, self.row, self.message = file, row, message
        where = file or "data"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {message}")


class UsageError(SpecrecError):
    """A bad command-line option or an unknown name (backend, method, run directory)."""

    exit_code = EXIT_BAD_INPUT


class BackendError(SpecrecError):
    """A backend is missing, failed to load, or cannot do what the spec asks (said before fitting)."""

    exit_code = EXIT_BAD_INPUT


class FitError(SpecrecError):
    """Inference ran and failed (NaN loss, sampler crash)."""

    exit_code = EXIT_FAILED
