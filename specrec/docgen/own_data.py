"""The "Fitting your own data" guide's example folder, and its terminal blocks from real runs.

``docs/guides/own-data.md`` walks through a small ratings CSV of one's own.  Its data files and
specs are made here (``write_folder``: a fixed seed, nothing read from outside), the guide's
commands are run on them (``run``: specrec's own CLI, in this process) in a temporary folder
laid out as the guide says, and each output replaces the block between the guide's markers
(``specrec.docgen.markers``)::

    <!-- begin generated: NAME -->
    ...
    <!-- end generated: NAME -->

so the prose stays hand-written and only the marked blocks are generated (``make docs-gen``,
which rewrites the guide like the reference pages; ``tests/docs`` fails when a block is stale).

What a real run prints that would change from one run to the next is normalised, the same way
every time (``normalise``): the temporary folder is shown as ``/tmp/owndata``, a run
directory's time and random suffix (``20260101-093000-numpyro-map-15ed4c``) as
``YYYYMMDD-HHMMSS`` and ``xxxxxx``, a progress line by its last state, and the heartbeat's
"... still X (N s)" lines are dropped.  Long outputs are excerpts: the lines a block keeps are
chosen by patterns (``Block.keep``), and ``...`` marks lines left out.  Nothing else is edited:
numbers are as printed, and the staleness test allows only a fit's last digits to differ
(``same_up_to_rounding``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from specrec.docgen import markers
from specrec.docgen.markdown import wrap_output

GUIDE = Path("docs/guides/own-data.md")
#: the folder the guide says it ran in; the real temporary folder is shown under this name
SHOWN = "/tmp/owndata"
#: the example data's seed (the guide's blocks are its fits' output: changing it rewrites them)
SEED = 21
N_USERS, N_ITEMS, N_RATINGS = 30, 20, 299
ITEMS = [10 * (i + 1) for i in range(N_ITEMS)]  # movieIds 10, 20, ..., 200
HEADER = "userId,movieId,rating,timestamp"


# ---- the data files -------------------------------------------------------------------------


def ratings() -> list[tuple[int, int, float, int]]:
    """(userId, movieId, rating, timestamp): half stars 0.5..5 from user and item effects."""
    rng = np.random.default_rng(SEED)
    b_u = rng.normal(0, 0.6, N_USERS)
    b_i = rng.normal(0, 0.7, N_ITEMS)
    cells = np.sort(rng.choice(N_USERS * N_ITEMS, N_RATINGS, replace=False))
    users, items = np.divmod(cells, N_ITEMS)
    raw = 3.3 + b_u[users] + b_i[items] + rng.normal(0, 0.8, N_RATINGS)
    stars = np.clip(np.round(raw * 2) / 2, 0.5, 5)
    times = 1_500_000_000 + np.cumsum(rng.integers(60, 86_400, N_RATINGS))
    order = rng.permutation(N_RATINGS)  # rows in no particular order, as exported files are
    return [(int(users[k]) + 1, ITEMS[items[k]], float(stars[k]), int(times[k])) for k in order]


def _csv(header: str, rows: list[tuple]) -> str:
    return header + "\n" + "".join(",".join(_cell(v) for v in r) + "\n" for r in rows)


def _cell(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _split(rows: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """The split/ folder: 10 % of the rows as test.csv, and three rows the training rows cannot
    speak for: two by user 31 (no training rating) and one of item 210 (rated by no one else)."""
    rng = np.random.default_rng(SEED + 1)
    test = set(rng.choice(len(rows), len(rows) // 10, replace=False).tolist())
    train = [r for k, r in enumerate(rows) if k not in test]
    held = [r for k, r in enumerate(rows) if k in test]
    t = max(r[3] for r in rows)
    held += [(31, 10, 4.0, t + 60), (31, 90, 3.5, t + 120), (5, 210, 2.0, t + 180)]
    return train, held


#: the guide's specs, by file name under specs/ (MINE is shown whole; the others are edits of it)
MINE = """\
specrec: 1
name: mine
data:
  source: file
  path: ../ratings.csv        # relative to this spec file's folder
dims:
  user: {column: user_id}     # format auto reads userId into user_id (see below)
  item: {column: item_id}
params:
  mu: Normal(3, 1)
  sigma_u: HalfNormal(1)
  b_u:
    prior: Normal(0, sigma_u)
    dims: [user]
  b_i:
    prior: Normal(0, 1)
    dims: [item]
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(mu + b_u[user] + b_i[item], sigma)
inference:
  method: map
  steps: 2000
"""


def _edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        if old not in text:
            raise ValueError(f"spec edit: {old!r} not in the spec")
        text = text.replace(old, new, 1)
    return text


def _path(path: str) -> tuple[str, str]:
    return ("  path: ../ratings.csv        # relative to this spec file's folder\n", path)


def _ordinal(name: str, cut: int, shift: float, scale: float) -> str:
    """MINE with an ordered-logistic likelihood of (rating - shift) / scale over ``cut``
    cutpoints (so without ``mu`` and ``sigma``)."""
    likelihood = "    distribution: OrderedLogistic(b_u[user] + b_i[item], cutpoints)\n"
    likelihood += f"    shift: {shift:g}\n    scale: {scale:g}\n"
    return _edit(
        MINE,
        ("name: mine", f"name: {name}"),
        _path("  path: ../ratings.csv\n"),
        ("  item: {column: item_id}\n", f"  item: {{column: item_id}}\n  cut: {cut}\n"),
        ("  mu: Normal(3, 1)\n", ""),
        ("  sigma: HalfNormal(1)\n", "  cutpoints:\n    prior: Normal(0, 3)\n    dims: [cut]\n"),
        ("    dims: [cut]\n", "    dims: [cut]\n    constraint: ordered\n"),
        ("  rating: Normal(mu + b_u[user] + b_i[item], sigma)\n", "  rating:\n" + likelihood),
        ("  steps: 2000\n", "  steps: 500\n"),
    )


def specs() -> dict[str, str]:
    def data(name: str, lines: str) -> str:
        return _edit(MINE, ("name: mine", f"name: {name}"), _path(lines))

    other_model = ("  rating: Normal(", "  stars: Normal(")
    files = _edit(
        data(
            "files",
            "  path: ../split                # the folder holding train.csv and test.csv\n"
            "  range: [0.5, 5]\n"
            "  split: {kind: files, train: train.csv, test: test.csv}\n",
        ),
        ("  method: map\n  steps: 2000\n", "  method: vi\n  steps: 1000\n  draws: 200\n"),
    )
    return {
        "mine.yaml": MINE,
        "cwd.yaml": data("cwd", "  path: ratings.csv\n"),
        "bad.yaml": data("bad", "  path: ../bad.csv\n"),
        "dup.yaml": data("dup", "  path: ../dup.csv\n"),
        "strids.yaml": data("strids", "  path: ../strids.csv\n"),
        "strids_csv.yaml": data("strids_csv", "  path: ../strids.csv\n  format: csv\n"),
        "other.yaml": _edit(
            data("other", "  path: ../other.csv\n"),
            ("{column: user_id}", "{column: uid}"),
            ("{column: item_id}", "{column: iid}"),
            other_model,
        ),
        "other_columns.yaml": data(
            "other_columns",
            "  path: ../other.csv\n  columns: {user_id: uid, item_id: iid, rating: stars}\n",
        ),
        "other_time.yaml": _edit(
            data("other_time", "  path: ../other.csv\n  split: {kind: time}\n"),
            ("{column: user_id}", "{column: uid}"),
            ("{column: item_id}", "{column: iid}"),
            other_model,
        ),
        "range.yaml": data("range", "  path: ../ratings.csv\n  range: [0.5, 5]\n"),
        "narrow.yaml": data("narrow", "  path: ../ratings.csv\n  range: [1, 4.5]\n"),
        "ordinal.yaml": _ordinal("ordinal", 4, 1, 1),
        "ordinal_bad.yaml": _ordinal("ordinal_bad", 4, 0.5, 0.5),
        "ordinal_half.yaml": _ordinal("ordinal_half", 9, 0.5, 0.5),
        "leave20.yaml": data(
            "leave20", "  path: ../ratings.csv\n  split: {kind: leave_k_out, k: 20}\n"
        ),
        "files.yaml": files,
        "folder.yaml": data("folder", "  path: ../split\n"),
    }


def write_folder(folder: Path) -> None:
    """The guide's project folder: the data files at its top, the specs under ``specs/``."""
    rows = ratings()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(_csv(HEADER, rows))
    first = rows[0]
    (folder / "bad.csv").write_text(
        _csv(HEADER, rows) + f"{first[0]},{ITEMS[-1] + 10},,{first[3]}\n"
    )
    (folder / "dup.csv").write_text(_csv(HEADER, [*rows, (first[0], first[1], 3.0, first[3] + 1)]))
    (folder / "strids.csv").write_text(
        _csv(HEADER, [(f"u{u}", f"m{i}", r, t) for u, i, r, t in rows])
    )
    (folder / "other.csv").write_text(_csv("uid,iid,stars,ts", rows))
    train, test = _split(rows)
    (folder / "split").mkdir(exist_ok=True)
    (folder / "split" / "train.csv").write_text(_csv(HEADER, train))
    (folder / "split" / "test.csv").write_text(_csv(HEADER, test))
    (folder / "new_pairs.csv").write_text("user_id,item_id\n5,10\n31,10\n99,10\n5,210\n")
    (folder / "specs").mkdir(exist_ok=True)
    for name, text in specs().items():
        (folder / "specs" / name).write_text(text)


# ---- running the guide's commands -----------------------------------------------------------

RUN_ID = re.compile(r"\b\d{8}-\d{6}-(\w+)-(\w+)-[0-9a-f]{6}\b")
HEARTBEAT = re.compile(r"^\s*\.\.\. still .*\(\d+ s\)$")  # printed only when a step is slow


def normalise(text: str, folder: Path) -> str:
    """What a terminal shows, made the same from run to run: a progress line rewritten in place
    (``\\r``) shows its last state; the heartbeat's "... still X (N s)" lines, which appear only
    when a step is slow, are dropped; the temporary folder is shown as ``/tmp/owndata``, and a
    run directory's time and random suffix as ``YYYYMMDD-HHMMSS`` and ``xxxxxx``."""
    for real in {str(folder), str(folder.resolve())}:
        text = text.replace(real, SHOWN)
    text = RUN_ID.sub(r"YYYYMMDD-HHMMSS-\1-\2-xxxxxx", text)
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    return "\n".join(line.rstrip() for line in lines if not HEARTBEAT.match(line))


def run(command: str, folder: Path) -> str:
    """``$ command`` and what it printed (stdout and stderr interleaved, as a terminal shows
    them), run in ``folder``: ``specrec ...`` (after an optional ``cd /tmp/owndata &&``) by
    click's test runner in this process, the real command with its real backends, only without
    a Python start and a JAX import per command (which made the guide take minutes); anything
    else by bash."""
    line = command.replace(SHOWN, str(folder))
    line = re.sub(rf"^cd {re.escape(str(folder))} && ", "", line)
    if line.startswith("specrec "):
        printed = _specrec(shlex.split(line, comments=True)[1:], folder)
    else:
        printed = subprocess.run(
            ["bash", "-c", line],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        ).stdout
    return f"$ {command}\n{normalise(printed, folder).rstrip()}"


def _specrec(args: list[str], folder: Path) -> str:
    import warnings

    from click.testing import CliRunner

    from specrec.cli import main

    before = Path.cwd()
    os.chdir(folder)
    try:  # the command sets warnings.showwarning and filters: restored after it
        with warnings.catch_warnings():
            result = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(main, args)
    finally:
        os.chdir(before)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise RuntimeError(f"specrec {shlex.join(args)} failed: {result.output}") from (
            result.exception
        )
    return result.output


def excerpt(text: str, keep: list[str] | None) -> str:
    """The lines matching a ``keep`` pattern (and every ``$`` command line), with ``...`` for
    each run of lines left out; a blank line is kept between two kept lines.  All of ``text``
    when ``keep`` is None."""
    if keep is None:
        return text
    patterns = [re.compile(p) for p in keep]
    lines = text.split("\n")
    kept = [line.startswith("$ ") or any(p.search(line) for p in patterns) for line in lines]
    for i, line in enumerate(lines):
        if not line:
            kept[i] = 0 < i < len(lines) - 1 and kept[i - 1] and kept[i + 1]
    out: list[str] = []
    for line, k in zip(lines, kept, strict=True):
        if k:
            out.append(line)
        elif not out or out[-1] != "...":
            out.append("...")
    return "\n".join(out)


def _min_max(folder: Path, spec: str) -> str:
    """The lowest and highest prediction and bounds of a spec's newest run's predictions.csv."""
    import pandas as pd

    newest = sorted((folder / "runs" / spec).iterdir())[-1]
    table = pd.read_csv(newest / "predictions.csv")[["mean", "lower", "upper"]]
    return table.agg(["min", "max"]).to_string()


@dataclass(frozen=True)
class Block:
    """A marked block of the guide: the output of its shell commands (or of ``make``), fenced."""

    commands: list[str] = field(default_factory=list)
    keep: list[str] | None = None  # the lines shown (patterns); None: every line
    make: Callable[[Path], str] | None = None  # text made in Python instead of by commands
    lang: str = "text"

    def text(self, folder: Path) -> str:
        if self.make is not None:
            body = self.make(folder)
        else:
            body = "\n".join(excerpt(run(c, folder), self.keep) for c in self.commands)
        if self.lang == "text":  # output, not a file to copy: long lines wrapped
            body = wrap_output(body.rstrip())
        return f"```{self.lang}\n{body.rstrip()}\n```"


def _validate(*specs: str) -> list[str]:
    return [f"specrec validate --read-data specs/{s}.yaml" for s in specs]


FIT_KEEP = [r"^loading the data", r"^\w+: \d+ train", r"^\w+  \w+ on ", r"RMSE +MAE"]
FIT_KEEP += [r"^  (model|uniform|global_mean) ", r"coverage \(test\)", r"run saved to"]

#: The guide's marked blocks, by name, in the order they are run (later ones read earlier runs).
BLOCKS: dict[str, Block] = {
    "mine-spec": Block(make=lambda folder: (folder / "specs/mine.yaml").read_text(), lang="yaml"),
    "cwd": Block(["cd /tmp/owndata && specrec validate --read-data specs/cwd.yaml"]),
    "validate": Block(
        [
            "specrec validate specs/mine.yaml",
            "specrec validate --read-data specs/mine.yaml",
            "specrec validate specs/cwd.yaml",
            "specrec validate --read-data specs/cwd.yaml      # the spec with path: ratings.csv",
        ]
    ),
    "bad": Block(_validate("bad")),
    "dup": Block(_validate("dup")),
    "fit": Block(["specrec fit specs/mine.yaml --out runs"], keep=FIT_KEEP),
    "predictions": Block(["head -n 3 runs/mine/*/predictions.csv"]),
    "strids": Block(_validate("strids")),
    "strids-csv": Block(_validate("strids_csv")),
    "other": Block(_validate("other", "other_columns")),
    "no-range": Block(make=lambda folder: _min_max(folder, "mine")),
    "narrow": Block(_validate("narrow")),
    "range-fit": Block(["specrec fit specs/range.yaml --out runs -q"]),  # -q: the run's path
    "range-min-max": Block(make=lambda folder: _min_max(folder, "range")),
    "ordinal": Block(_validate("ordinal")),
    "ordinal-bad": Block(_validate("ordinal_bad", "ordinal_half")),
    "other-time": Block(_validate("other_time")),
    "leave20": Block(_validate("leave20")),
    "files": Block(_validate("files")),
    "folder": Block(_validate("folder")),
    "files-fit": Block(
        ["specrec fit specs/files.yaml --out runs"],
        keep=[r"^files  vi on", r"test RMSE by", r"cold-start test rows", r"run saved to"],
    ),
    "predict": Block(["specrec predict runs/files --pairs new_pairs.csv"]),
    "recommend": Block(
        [
            "specrec recommend runs/files --user 5 -n 3",
            "specrec recommend runs/files --user 99 -n 3",
        ]
    ),
}


def blocks(folder: Path | None = None) -> dict[str, str]:
    """Every block's text, from a fresh example folder (``folder``, else a temporary one)."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="owndata-") as tmp:
            return blocks(Path(tmp) / "owndata")
    if folder.exists():
        shutil.rmtree(folder)
    write_folder(folder)
    return {name: block.text(folder) for name, block in BLOCKS.items()}


def guide(root: Path) -> str:
    """The guide with its marked blocks regenerated (this runs every command: a minute or so)."""
    text = (root / GUIDE).read_text(encoding="utf-8")
    return markers.splice(text, blocks(), GUIDE, f"BLOCKS in {__name__}")


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def same_up_to_rounding(a: str, b: str, rel: float = 1e-3, abs_: float = 5e-3) -> bool:
    """The two texts match word for word, and number for number within ``rel`` and ``abs_``:
    a fit's last digits may move with the CPU or a library's build, which is not staleness
    (a share of 200 posterior draws moves by 0.005 when one draw does)."""
    if NUMBER.split(a) != NUMBER.split(b):
        return False
    return all(
        abs(float(x) - float(y)) <= abs_ + rel * abs(float(y))
        for x, y in zip(NUMBER.findall(a), NUMBER.findall(b), strict=True)
    )


if __name__ == "__main__":  # python -m specrec.docgen.own_data FOLDER: the guide's example folder
    if len(sys.argv) != 2:
        sys.exit("usage: python -m specrec.docgen.own_data FOLDER")
    write_folder(Path(sys.argv[1]))
    print(f"wrote {sys.argv[1]}: ratings.csv, the other data files and specs/")
