"""Runs nnc's ONNX exports in onnxruntime, the independent check of tests/onnx.rs.

Usage: python check.py CASE_DIR...

Each case directory holds `model.onnx`, the input batch `input.bin`
(float32, little endian, row major) and `input_shape.txt` (the batch's
shape, batch axis included, as decimal numbers separated by spaces). For
each case this script
- checks the file with the ONNX checker (`onnx.checker.check_model`, full
  check with shape inference),
- runs it with onnxruntime on the CPU,
- writes the output to `output.bin` (float32, little endian) and what the
  runtime reports about the model to `result.txt`: input and output names,
  shapes and types, the opsets, the producer and the metadata properties.
The comparison with nnc's `predict` is made by the Rust test.

`result.txt` is read by Rust without a JSON parser, so it is a line format:
one record a line, its fields separated by tabs, the first field the
record's key. In a field, backslash, tab, newline and carriage return are
written `\\\\`, `\\t`, `\\n` and `\\r`, so that a field (the spec text in the
metadata, say) never spans lines or tabs. A dimension of a shape is a
number, `$name` for a symbolic one, or `?` for an unknown one.
"""

import pathlib
import sys

import numpy as np
import onnx
import onnx.checker
import onnxruntime as ort

ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def field(value) -> str:
    return "".join(ESCAPES.get(c, c) for c in str(value))


def dim(d) -> str:
    if d is None:
        return "?"
    if isinstance(d, int):
        return str(d)
    return "$" + d


def record(key: str, *fields) -> str:
    return "\t".join([key, *(field(f) for f in fields)]) + "\n"


def run(case: pathlib.Path) -> None:
    shape = [int(d) for d in (case / "input_shape.txt").read_text().split()]
    path = case / "model.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)

    x = np.fromfile(case / "input.bin", dtype="<f4").reshape(shape)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    (y,) = session.run([out.name], {inp.name: x})
    np.ascontiguousarray(y, dtype="<f4").tofile(case / "output.bin")

    meta = session.get_modelmeta()
    lines = [
        record("input.name", inp.name),
        record("input.shape", *map(dim, inp.shape)),
        record("input.type", inp.type),
        record("output.name", out.name),
        record("output.shape", *map(dim, out.shape)),
        record("output.type", out.type),
        record("output.runtime_shape", *y.shape),
        *(record("opset", op.domain, op.version) for op in model.opset_import),
        record("ir_version", model.ir_version),
        record("producer", meta.producer_name, model.producer_version),
        *(record("metadata", k, v) for k, v in sorted(meta.custom_metadata_map.items())),
        record("ops", *sorted({n.op_type for n in model.graph.node})),
        record("onnxruntime", ort.__version__),
        record("onnx", onnx.__version__),
    ]
    (case / "result.txt").write_bytes("".join(lines).encode("utf-8"))
    print(f"{case.name}: checker ok, onnxruntime {ort.__version__} output {list(y.shape)}")


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    for arg in sys.argv[1:]:
        run(pathlib.Path(arg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
