"""What an error shows of a value it found: at most ``FOUND_LIMIT`` characters, in one place."""

from __future__ import annotations

import pytest

from specrec.data.loaders import load_ratings
from specrec.errors import FOUND_LIMIT, DataError, Problem, shorten, shown


def test_a_short_value_is_shown_whole() -> None:
    assert shorten("x" * FOUND_LIMIT) == "x" * FOUND_LIMIT
    assert shown("u1") == "'u1'"


def test_a_long_value_loses_its_middle_to_an_ellipsis() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(300))
    cut = shorten(text)
    assert len(cut) == FOUND_LIMIT == 80
    head, tail = cut.split("...")
    assert text.startswith(head) and text.endswith(tail) and len(tail) >= 20
    quoted = shown(text)
    assert quoted.startswith("'abc") and quoted.endswith("'") and len(quoted) == 80


def test_problem_format_shortens_found_and_keeps_the_value() -> None:
    problem = Problem("spec.yaml", 3, 7, "data.path", "bad", expected="short", found="y" * 500)
    assert problem.format().splitlines()[-1] == "    found:    " + shorten("y" * 500)
    assert problem.found == "y" * 500  # the Problem itself keeps all of it


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("1,2,{}\n", "column 'rating' must be a finite number, found "),
        ("{},2,3\n", "column 'userId' must be a positive integer id, found "),
    ],
)
def test_a_long_cell_in_a_rating_file_is_shortened(tmp_path, rows: str, message: str) -> None:
    cell = "q" * 5000
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating\n" + rows.format(cell))
    with pytest.raises(DataError) as err:
        load_ratings(path)
    assert str(err.value) == f"{path}, row 2: {message}{shown(cell)}"
    assert len(str(err.value)) < len(str(path)) + 200
