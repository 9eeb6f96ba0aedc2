"""The Open Inference Protocol's errors: `{"error": "<message>"}` with 400, 404 or 503.

The same `ServiceError`s as every other endpoint, rendered in the protocol's form (KServe's REST protocol,
"Inference Request/Response JSON Objects": a failed request answers `{"error": $string}`): faults the service
reports as 422 (schema, values) or 415 are the protocol's 400, a body over the limit stays 413.
"""

from __future__ import annotations

from service.core.errors import ServiceError


class InvalidTensor(ServiceError):
    """A V2 body that decodes but whose tensors are wrong: datatype, shape against data, binary sizes."""

    status = 400
    code = "invalid_tensor"
    mlflow_code = "BAD_REQUEST"


class ModelNotFound(ServiceError):
    """A model name this service does not serve, or a version of it that is not serving."""

    status = 404
    code = "model_not_found"
    mlflow_code = "RESOURCE_DOES_NOT_EXIST"


def v2_status(error: ServiceError) -> int:
    return 400 if error.status in (415, 422) else error.status


def v2_error_body(error: ServiceError) -> dict[str, str]:
    return {"error": error.message}
