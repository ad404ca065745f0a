"""Runs nnc's ONNX exports in onnxruntime, the independent check of tests/onnx.rs.

Usage: python check.py CASE_DIR...

Each case directory holds `model.onnx`, the input batch `input.bin`
(float32, little endian, row major) and `case.json` ({"input_shape": [...]},
batch axis included). For each case this script
- checks the file with the ONNX checker (`onnx.checker.check_model`, full
  check with shape inference),
- runs it with onnxruntime on the CPU,
- writes the output to `output.bin` (float32, little endian) and what the
  runtime reports about the model to `result.json`: input and output names,
  shapes and types, the opsets, the producer and the metadata properties.
The comparison with nnc's `predict` is made by the Rust test.
"""

import json
import pathlib
import sys

import numpy as np
import onnx
import onnx.checker
import onnxruntime as ort


def run(case: pathlib.Path) -> None:
    spec = json.loads((case / "case.json").read_text())
    path = case / "model.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)

    x = np.fromfile(case / "input.bin", dtype="<f4").reshape(spec["input_shape"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    (y,) = session.run([out.name], {inp.name: x})
    np.ascontiguousarray(y, dtype="<f4").tofile(case / "output.bin")

    meta = session.get_modelmeta()
    result = {
        "input": {"name": inp.name, "shape": inp.shape, "type": inp.type},
        "output": {"name": out.name, "shape": out.shape, "type": out.type, "runtime_shape": list(y.shape)},
        "opsets": {op.domain: op.version for op in model.opset_import},
        "ir_version": model.ir_version,
        "producer": [meta.producer_name, model.producer_version],
        "metadata": dict(meta.custom_metadata_map),
        "ops": sorted({n.op_type for n in model.graph.node}),
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
    }
    (case / "result.json").write_text(json.dumps(result, indent=1))
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
