"""Model references: `models:/` URIs parse to an alias, a stage or a version, or are refused."""

from __future__ import annotations

import pytest

from service.core.refs import ModelRef


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/linear_regression@production", ModelRef("linear_regression", alias="production")),
        ("models:/linear_regression/Production", ModelRef("linear_regression", stage="Production")),
        ("models:/linear_regression/staging", ModelRef("linear_regression", stage="Staging")),
        ("models:/linear_regression/12", ModelRef("linear_regression", version="12")),
        # What `mlflow models serve -m` also takes (mlflow/store/artifact/utils/models.py@v3.17.2): latest, any case.
        ("models:/linear_regression/latest", ModelRef("linear_regression")),
        ("models:/linear_regression/LATEST", ModelRef("linear_regression")),
        ("models:/linear_regression/PRODUCTION", ModelRef("linear_regression", stage="Production")),
    ],
)
def test_model_uris_parse_to_alias_stage_or_version(uri: str, expected: ModelRef) -> None:
    ref = ModelRef.parse(uri)
    assert ref == expected
    assert ModelRef.parse(ref.uri) == ref


def test_a_reference_reports_its_kind() -> None:
    """A stage is reported as a stage, not as an alias."""
    assert ModelRef.parse("models:/m@production").describe() == {"alias": "production"}
    assert ModelRef.parse("models:/m/production").describe() == {"stage": "Production"}
    assert ModelRef.parse("models:/m/3").describe() == {"version_ref": "3"}
    assert ModelRef.parse("models:/m/latest").describe() == {"version_ref": "latest"}


@pytest.mark.parametrize("uri", ["runs:/abc/model", "models:/", "models:/name/Prod", "models:/a/b/c"])
def test_bad_model_uris_are_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="models:/|neither a version"):
        ModelRef.parse(uri)
