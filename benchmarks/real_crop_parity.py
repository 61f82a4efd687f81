"""Print ONNX Runtime vs PyTorch parity of every phase of every tracker on real crops.

Crops come from OTB Crossing frames 0 and 6 in ../shared/data (the same crops as
tests/export/test_export_phases.py::test_parity_on_real_crops, which asserts the tolerance);
weights are seeded random with randomised BN statistics. Run from the repository root:

    .venv/bin/python -m benchmarks.real_crop_parity [DATA_DIR]
"""

import sys
import tempfile
from pathlib import Path

import torch

from export.checkpoint import save_checkpoint
from export.models import build_model, default_config
from export.parity import compare
from export.pipeline import export_tracker
from tests.conftest import SHARED_DATA
from tests.export import test_export_phases as cases


def main() -> int:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED_DATA
    if not (data / "sequences").is_dir():
        print(f"no tracking data at {data}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for tracker in cases.TRACKERS:
            root = Path(tmp) / tracker
            torch.manual_seed(11)
            model = build_model(default_config(tracker))
            cases._randomise_batchnorm(model)
            checkpoint = save_checkpoint(root / "net.safetensors", model, model.config)
            export_tracker(tracker, root / "onnx", checkpoint=checkpoint, progress=False)
            exported = cases.Export(tracker, root / "onnx", model.eval())
            rows = []
            exported.assert_parity = lambda name, args, ex=exported: rows.extend(
                (name, r) for r in compare(ex.phases[name], ex.session(name), args))
            cases.test_parity_on_real_crops(exported, data)
            for name, r in rows:
                print(f"{tracker:9s} {name:15s} {r.name:18s} max_abs {r.max_abs_error:.2e}  "
                      f"scale {r.scale:.3g}  rel {r.relative_error:.2e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
