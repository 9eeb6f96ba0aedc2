"""One error base class for everything a request can fail on, carrying its HTTP status.

`row` and `field` point at the part of the request at fault, so a caller can fix it without guessing.
`mlflow_code` is the error code MLflow's scoring server uses for the same fault: `/invocations` answers in
MLflow's format with it, and with `mlflow_error_class` where MLflow names a more specific class than the code's
own (schema enforcement: `SCHEMA_ENFORCEMENT_FAILED`, sqlstate KAM01, mlflow/pyfunc/__init__.py@v3.17.2
`_validate_prediction_input`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """An error a request ends on; the one exception handler turns it into a response."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    mlflow_code: ClassVar[str] = "INTERNAL_ERROR"
    mlflow_error_class: ClassVar[str | None] = None  # None: MLflow derives it from mlflow_code

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.row = row
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.row is not None:
            body["row"] = self.row
        if self.field is not None:
            body["field"] = self.field
        return body


class MalformedBody(ServiceError):
    """The body cannot be decoded at all (not JSON, not CSV)."""

    status = 400
    code = "malformed_body"
    mlflow_code = "BAD_REQUEST"


class InvalidRequest(ServiceError):
    """The body decodes but a value or the envelope is wrong: wrong type, null, NaN/Inf, unknown format."""

    status = 422
    code = "invalid_request"
    mlflow_code = "BAD_REQUEST"


class SchemaMismatch(ServiceError):
    """The rows do not fit the model's signature: a missing or unknown field, a wrong row length, no rows."""

    status = 422
    code = "schema_mismatch"
    mlflow_code = "INVALID_PARAMETER_VALUE"
    mlflow_error_class = "SCHEMA_ENFORCEMENT_FAILED"


class PayloadTooLarge(ServiceError):
    """The body is larger than `max_body_bytes`, or holds more rows than `max_batch_rows`."""

    status = 413
    code = "payload_too_large"
    mlflow_code = "RESOURCE_LIMIT_EXCEEDED"


class UnsupportedMediaType(ServiceError):
    """A content type the endpoint does not read."""

    status = 415
    code = "unsupported_media_type"
    mlflow_code = "BAD_REQUEST"


class ModelNotReady(ServiceError):
    """No model is loaded yet in this worker (startup, or the registry has been unreachable since)."""

    status = 503
    code = "model_not_ready"
    mlflow_code = "TEMPORARILY_UNAVAILABLE"


class PredictionFailed(ServiceError):
    """The model raised on input that passed validation: our fault, not the caller's."""

    status = 500
    code = "prediction_failed"
    mlflow_code = "INTERNAL_ERROR"


class NonFiniteOutput(PredictionFailed):
    """The model answered valid, finite rows with infinity or NaN (e.g. a linear model on `age = 1e308`).

    JSON has no such number (orjson would write `null`, a silent wrong answer), so `/predict` refuses with 422
    naming the row, and nothing is cached. `/invocations` answers as `mlflow models serve` does: 200 with the
    standard library's `Infinity`/`NaN` tokens (`values` carries the predictions for that). A `PredictionFailed`,
    so a challenger's non-finite answer falls back to the champion's.
    """

    status = 422
    code = "prediction_not_finite"
    mlflow_code = "BAD_REQUEST"

    def __init__(self, message: str, *, row: int, values: list[Any]) -> None:
        super().__init__(message, row=row)
        self.values = values


class InputRejected(PredictionFailed):
    """The model refused valid rows of a string column (e.g. a category it never saw in training): 422, as
    `mlflow models serve` answers a predict error with 400 BAD_REQUEST. A `PredictionFailed`, so a challenger's
    refusal falls back to the champion's answer."""

    status = 422
    code = "input_rejected_by_model"
    mlflow_code = "BAD_REQUEST"


class ModelBusy(ServiceError):
    """The model's batch queue did not answer within the batch timeout: try again (another pod may answer)."""

    status = 503
    code = "model_busy"
    mlflow_code = "TEMPORARILY_UNAVAILABLE"


class InvalidParam(ServiceError):
    """A `params` entry the signature's params schema does not declare, or of the wrong type or shape."""

    status = 400
    code = "invalid_param"
    mlflow_code = "INVALID_PARAMETER_VALUE"


class InvalidQuery(ServiceError):
    """A query parameter the model cannot honour (`output=proba` for a model without predict_proba)."""

    status = 400
    code = "invalid_query"
    mlflow_code = "BAD_REQUEST"
