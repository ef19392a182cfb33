"""The Open Inference Protocol (v2, REST) in the service's terms, without any web code.

Input tensors become the entity rows ``POST /score`` takes, one tensor per join key or
request field; an answer of :meth:`ScoringService.score` becomes the ``score`` and ``label``
output tensors. Everything wrong with a request is an :class:`InvalidRequest` naming the
tensor and what is wrong with it; the web layer answers it with OIP's ``{"error"}`` body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from features.schema import FieldType, InputField, ServiceSchema
from scoring.errors import BatchTooLarge, InvalidRequest, quoted
from scoring.model.loaded import ScoringModel

DATATYPES: dict[FieldType, str] = {
    FieldType.INTEGER: "INT64",
    FieldType.NUMBER: "FP64",
    FieldType.STRING: "BYTES",
    FieldType.BOOLEAN: "BOOL",
}
"""The OIP datatype the metadata gives each kind of input."""

_INT_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**63 - 1),  # a join key is a 64-bit signed integer in Feast
}
_FLOATS = ("FP16", "FP32", "FP64")

ACCEPTED: dict[FieldType, tuple[str, ...]] = {
    FieldType.INTEGER: tuple(_INT_RANGES),
    FieldType.NUMBER: (*_FLOATS, *_INT_RANGES),
    FieldType.STRING: ("BYTES",),
    FieldType.BOOLEAN: ("BOOL",),
}
"""The datatypes an input of each kind may be sent as: integers are numbers too."""

OUTPUTS = ("score", "label")
"""The output tensors of every model, in the order they are answered."""

BINARY_EXTENSION = (
    "the binary tensor data extension is not supported: send every tensor as JSON 'data' "
    "(tritonclient: set_data_from_numpy(..., binary_data=False) and "
    "InferRequestedOutput(name, binary_data=False) for each output)"
)
"""Why a request using the binary tensor data extension is refused."""

_REQUEST_FIELDS = ("id", "parameters", "inputs", "outputs")
_TENSOR_FIELDS = ("name", "shape", "datatype", "data", "parameters")
MAX_ID_CHARS = 128
"""Characters of a request ``id`` at most: it is echoed in the answer."""


@dataclass(frozen=True)
class InferRequest:
    """An inference request turned into the rows ``/score`` takes."""

    id: str | None
    entities: list[dict[str, Any]]
    outputs: tuple[str, ...]
    """The output tensors asked for, in the order asked; all of them when none were named."""


def label_datatype(labels: Iterable[Any]) -> str:
    """The OIP datatype of labels: a model's two classes, or the labels of an answer."""
    kinds = set(map(type, labels))
    if kinds <= {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64"
    if kinds <= {int, float}:
        return "FP64"
    return "BYTES"


def model_metadata(model: ScoringModel, versions: list[int]) -> dict[str, Any]:
    """``GET /v2/models/{m}``: the inputs a request sends and the outputs it gets, of ``model``."""
    schema = model.schema
    inputs = [
        {"name": f.name, "datatype": DATATYPES[f.type], "shape": [-1]}
        for f in (*schema.join_keys, *schema.request_fields)
    ]
    return {
        "name": model.name,
        "versions": [str(v) for v in versions],
        "platform": "lightgbm",
        "inputs": inputs,
        "outputs": [
            {"name": "score", "datatype": "FP64", "shape": [-1]},
            {
                "name": "label",
                "datatype": label_datatype(model.manifest.postprocess.labels),
                "shape": [-1],
            },
        ],
    }


def parse_infer_request(
    body: Any, schema: ServiceSchema, max_rows: int, binary_header: bool = False
) -> InferRequest:
    """Check an inference request against ``schema``'s inputs and turn its tensors into rows.

    ``binary_header``: the request came with ``Inference-Header-Content-Length``, the binary
    tensor data extension's header, which is refused.
    """
    if binary_header:
        raise InvalidRequest(BINARY_EXTENSION)
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object with an 'inputs' list")
    unknown = sorted(set(body) - set(_REQUEST_FIELDS))
    if unknown:
        raise InvalidRequest(
            f"unknown field(s) {quoted(unknown)}; expected {', '.join(_REQUEST_FIELDS)}"
        )
    request_id = body.get("id")
    if request_id is not None and (
        not isinstance(request_id, str) or len(request_id) > MAX_ID_CHARS
    ):
        raise InvalidRequest(f"'id' must be a string of at most {MAX_ID_CHARS} characters")
    parameters = _parameters(body.get("parameters"), "'parameters'")
    if parameters.get("binary_data_output") is True:
        raise InvalidRequest(BINARY_EXTENSION)
    outputs = _outputs(body.get("outputs"))
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidRequest("'inputs' must be a non-empty list of tensors")
    fields = {f.name: f for f in (*schema.join_keys, *schema.request_fields)}
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(inputs):
        name, values = _input(tensor, i, fields, max_rows)
        if name in columns:
            raise InvalidRequest(f"input {name!r} is sent twice")
        columns[name] = values
    missing = [name for name in fields if name not in columns]
    if missing:
        expected = ", ".join(f"{n} ({DATATYPES[f.type]})" for n, f in fields.items())
        raise InvalidRequest(f"missing input(s) {quoted(missing)}; the model takes {expected}")
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name!r} has {n}" for name, n in lengths.items())
        raise InvalidRequest(f"the inputs must have the same number of rows: {shown}")
    names = list(columns)
    entities = [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    return InferRequest(request_id, entities, outputs)


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be an object")
    return value


def _outputs(value: Any) -> tuple[str, ...]:
    if value is None:
        return OUTPUTS
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'outputs' must be a non-empty list of {'name'} objects")
    names: list[str] = []
    for i, output in enumerate(value):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise InvalidRequest(f"outputs[{i}] must be an object with a 'name'")
        name = output["name"]
        if name not in OUTPUTS:
            raise InvalidRequest(
                f"unknown output {quoted(name)}; the model answers {', '.join(OUTPUTS)}"
            )
        if _parameters(output.get("parameters"), f"outputs[{i}].parameters").get("binary_data"):
            raise InvalidRequest(BINARY_EXTENSION)
        if name not in names:
            names.append(name)
    return tuple(names)


def _input(
    tensor: Any, i: int, fields: dict[str, InputField], max_rows: int
) -> tuple[str, list[Any]]:
    """One input tensor's name and row values, each checked against its field and datatype."""
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise InvalidRequest(f"inputs[{i}] must be a tensor object with a 'name'")
    name = tensor["name"]
    field = fields.get(name)
    if field is None:
        raise InvalidRequest(f"unknown input {quoted(name)}; the model takes {', '.join(fields)}")
    unknown = sorted(set(tensor) - set(_TENSOR_FIELDS))
    if unknown:
        raise InvalidRequest(f"input {name!r}: unknown field(s) {quoted(unknown)}")
    parameters = _parameters(tensor.get("parameters"), f"input {name!r}: 'parameters'")
    if "binary_data_size" in parameters:
        raise InvalidRequest(BINARY_EXTENSION)
    datatype = tensor.get("datatype")
    accepted = ACCEPTED[field.type]
    if datatype not in accepted:
        raise InvalidRequest(
            f"input {name!r} has datatype {quoted(datatype)}; it takes {DATATYPES[field.type]}"
            + (f" (or {', '.join(d for d in accepted if d != DATATYPES[field.type])})"
               if len(accepted) > 1 else "")
        )  # fmt: skip
    shape = tensor.get("shape")
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InvalidRequest(f"input {name!r}: 'data' must be a list of values")
    rows = _rows(name, shape, data)
    if rows > max_rows:
        raise BatchTooLarge(f"{rows} rows is over the limit of {max_rows} per request")
    if data and isinstance(data[0], list):  # [N, 1] sent nested, row by row
        if not all(isinstance(v, list) and len(v) == 1 for v in data):
            raise InvalidRequest(f"input {name!r}: nested 'data' must hold one value per row")
        data = [v[0] for v in data]
    if len(data) != rows:
        raise InvalidRequest(
            f"input {name!r}: shape {shape} holds {rows} value(s) but 'data' has {len(data)}"
        )
    bad = _first_bad(datatype, data)
    if bad is not None:
        raise InvalidRequest(
            f"input {name!r} ({datatype}): data[{bad}] = {quoted(data[bad])} "
            f"is not {_what(datatype)}"
        )
    if field.type is FieldType.NUMBER:
        data = [float(v) for v in data]
    return name, data


def _rows(name: str, shape: Any, data: list[Any]) -> int:
    """The number of rows ``shape`` says: [N], or [N, 1] for a column vector."""
    if (
        not isinstance(shape, list)
        or not all(type(d) is int and d >= 0 for d in shape)
        or not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1))
    ):
        raise InvalidRequest(
            f"input {name!r} has shape {quoted(shape)}; it must be [N] (or [N, 1]), one value "
            "per row"
        )
    if shape[0] == 0:
        raise InvalidRequest(f"input {name!r} has no rows: send at least one")
    rows: int = shape[0]
    return rows


def _first_bad(datatype: str, data: list[Any]) -> int | None:
    """The index of the first value ``datatype`` cannot hold, if any."""
    if datatype == "BYTES":
        ok = (type(v) is str for v in data)
    elif datatype == "BOOL":
        ok = (type(v) is bool for v in data)
    elif datatype in _FLOATS:
        # orjson has already refused NaN and Infinity, which JSON does not have.
        ok = (type(v) is float or (type(v) is int and abs(v) <= 2**1023) for v in data)
    else:
        low, high = _INT_RANGES[datatype]
        ok = (type(v) is int and low <= v <= high for v in data)
    return next((i for i, good in enumerate(ok) if not good), None)


def _what(datatype: str) -> str:
    if datatype == "BYTES":
        return "a string"
    if datatype == "BOOL":
        return "true or false"
    if datatype in _FLOATS:
        return "a number"
    low, high = _INT_RANGES[datatype]
    return f"an integer from {low} to {high}"


def infer_response(answer: dict[str, Any], request: InferRequest) -> dict[str, Any]:
    """The OIP answer for :meth:`ScoringService.score`'s ``answer`` to ``request``.

    ``id`` is the request's own when it sent one, else the service's ``request_id``, which
    the prediction log and ``POST /feedback`` know the rows by: ``parameters`` always holds it.
    """
    predictions = answer["predictions"]
    n = len(predictions)
    labels = [p["label"] for p in predictions]
    label_type = label_datatype(labels)
    if label_type == "BYTES":
        labels = [str(label) for label in labels]
    tensors = {
        "score": {"name": "score", "datatype": "FP64", "shape": [n],
                  "data": [p["score"] for p in predictions]},
        "label": {"name": "label", "datatype": label_type, "shape": [n],
                  "data": labels},
    }  # fmt: skip
    request_id = answer["request_id"]
    return {
        "model_name": answer["model"],
        "model_version": str(answer["version"]),
        "id": request.id if request.id is not None else request_id,
        "parameters": {"request_id": request_id},
        "outputs": [tensors[name] for name in request.outputs],
    }
