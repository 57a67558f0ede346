"""``covering.errors.one_line``: the one error formatter of the CLI, the service and clients."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from covering.cli import one_line as cli_one_line
from covering.errors import one_line


class _Model(BaseModel):
    eta: float
    k: int = 1

    @model_validator(mode="after")
    def _whole(self) -> _Model:
        if self.k > 5:
            raise ValueError("k too large")
        return self


def _error(**kw: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Model.model_validate(kw)
    return info.value


def test_a_plain_error_is_its_message_on_one_line() -> None:
    assert one_line(ValueError("bad\n  input\tnow ")) == "bad input now"
    assert one_line(OSError("disk")) == "disk"


def test_validation_errors_are_located() -> None:
    exc = _error(eta="x", k="y")
    assert one_line(exc) == (
        "eta: Input should be a valid number, unable to parse string as a number; "
        "k: Input should be a valid integer, unable to parse string as an integer"
    )


def test_a_problem_of_the_whole_object_is_located_where_asked() -> None:
    exc = _error(eta=1.0, k=9)
    assert one_line(exc) == "Value error, k too large"
    assert one_line(exc, where="manifest") == "manifest: Value error, k too large"
    assert cli_one_line(exc) == "manifest: Value error, k too large"  # the CLI reads manifests
