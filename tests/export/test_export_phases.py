"""Every tracker's phases exported through the CLI, then checked against PyTorch on ONNX Runtime.

One export per tracker (the session-wide ``exports`` fixture of tests/conftest.py, from a seeded
checkpoint so the weights are known); every test below reads those files. Tolerance: fp32, max abs
error <= 1e-4 of the output's scale.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
import torch

from edge_tracker.geometry import box_center, box_to_crop, crop_square, to_nchw
from export.checkpoint import load_model
from export.graph_check import check_graph
from export.parity import PARITY_TOLERANCE, check_phase, onnx_runner, phase_feed
from export.phases import build_phases, refine_reference
from edge_tracker.manifest import read_manifest, sha256_file
from export.tensorrt_support import TENSORRT_ONNX_OPS
from tests.conftest import read_otb_sequence

TOL = PARITY_TOLERANCE["fp32"]
TRACKERS = ["scs-siam", "sca-siam", "ssa-siam", "aff-atom", "atom"]

EXPECTED_IO = {
    "scs-siam": {
        "template": ({"template": [1, 3, 135, 135]}, {"kernel": [1, 384, 7, 7]}),
        "search": ({"search": [3, 3, 263, 263], "kernel": [1, 384, 7, 7]}, {"response": [3, 1, 17, 17]}),
    },
    "aff-atom": {
        "backbone": ({"image": [1, 3, 288, 288]},
                     {"cls_layer3": [1, 256, 18, 18], "cls_layer4": [1, 512, 9, 9],
                      "iou_layer3": [1, 256, 18, 18], "iou_layer4": [1, 512, 9, 9]}),
        "iou_modulation": ({"iou_layer3": [1, 256, 18, 18], "iou_layer4": [1, 512, 9, 9], "box": [1, 4]},
                           {"modulation_layer3": [1, 256], "modulation_layer4": [1, 256]}),
        "iou_refine": ({"iou_layer3": [1, 256, 18, 18], "iou_layer4": [1, 512, 9, 9],
                        "modulation_layer3": [1, 256], "modulation_layer4": [1, 256], "proposals": [1, 10, 4]},
                       {"boxes": [1, 10, 4], "ious": [1, 10]}),
        "classifier": ({"cls_layer3": [1, 256, 18, 18], "projection_layer3": [64, 256, 1, 1],
                        "filter_layer3": [1, 64, 4, 4], "cls_layer4": [1, 512, 9, 9],
                        "projection_layer4": [64, 512, 1, 1], "filter_layer4": [1, 64, 4, 4]},
                       {"scores": [1, 1, 19, 19], "projected_layer3": [1, 64, 18, 18],
                        "projected_layer4": [1, 64, 9, 9]}),
    },
    "atom": {
        "backbone": ({"image": [1, 3, 288, 288]},
                     {"cls_layer3": [1, 256, 18, 18], "iou_layer2": [1, 128, 36, 36],
                      "iou_layer3": [1, 256, 18, 18]}),
        "iou_modulation": ({"iou_layer2": [1, 128, 36, 36], "iou_layer3": [1, 256, 18, 18], "box": [1, 4]},
                           {"modulation_layer2": [1, 256], "modulation_layer3": [1, 256]}),
        "iou_refine": ({"iou_layer2": [1, 128, 36, 36], "iou_layer3": [1, 256, 18, 18],
                        "modulation_layer2": [1, 256], "modulation_layer3": [1, 256], "proposals": [1, 10, 4]},
                       {"boxes": [1, 10, 4], "ious": [1, 10]}),
        "classifier": ({"cls_layer3": [1, 256, 18, 18], "projection_layer3": [64, 256, 1, 1],
                        "filter_layer3": [1, 64, 4, 4]}, {"scores": [1, 1, 19, 19], "projected_layer3": [1, 64, 18, 18]}),
    },
}
EXPECTED_IO["sca-siam"] = EXPECTED_IO["ssa-siam"] = EXPECTED_IO["scs-siam"]


def _learning_io(layers):
    """The classifier's learning phases for ``{layer: (channels, side)}`` (default export config:
    30 first-frame slots, 250 memory slots, 10 and 5 CG iterations, 64 channels, 4x4 filter)."""
    init_in, init_out, mem_in, update_out, lin_out, step_in, step_out = {}, {}, {}, {}, {}, {}, {}
    for layer, (channels, side) in layers.items():
        cells, filt = side + 1, [1, 64, 4, 4]
        init_in.update({f"init_cls_{layer}": [30, channels, side, side], f"init_labels_{layer}": [30, cells, cells],
                        f"init_projection_{layer}": [64, channels, 1, 1], f"init_filter_{layer}": filt})
        init_out.update({f"projection_{layer}": [64, channels, 1, 1], f"filter_{layer}": filt,
                         f"projected_{layer}": [30, 64, side, side], f"losses_{layer}": [2],
                         f"cg_residuals_{layer}": [11]})
        mem_in.update({f"memory_{layer}": [250, 64, side, side], f"labels_{layer}": [250, cells, cells],
                       f"filter_{layer}": filt})
        update_out.update({f"updated_filter_{layer}": filt, f"loss_{layer}": [1], f"cg_residuals_{layer}": [6]})
        lin_out.update({f"curvature_{layer}": [250, cells, cells], f"cg_residual_{layer}": filt, f"loss_{layer}": [1]})
        step_in.update({f"memory_{layer}": [250, 64, side, side], f"curvature_{layer}": [250, cells, cells],
                        f"cg_filter_{layer}": filt, f"cg_residual_{layer}": filt, f"cg_direction_{layer}": filt})
        step_out.update({f"next_filter_{layer}": filt, f"next_residual_{layer}": filt, f"next_direction_{layer}": filt})
    init_in.update({"init_weights": [30], "filter_reg": [1], "projection_reg": [1]})
    mem_in.update({"weights": [250], "filter_reg": [1]})
    step_in["filter_reg"] = [1]
    return {"classifier_init": (init_in, init_out), "classifier_update": (mem_in, update_out),
            "classifier_linearize": (mem_in, lin_out), "classifier_cg_step": (step_in, step_out)}


EXPECTED_IO["aff-atom"].update(_learning_io({"layer3": (256, 18), "layer4": (512, 9)}))
EXPECTED_IO["atom"].update(_learning_io({"layer3": (256, 18)}))
CADENCE = {"template": "sequence", "search": "frame", "backbone": "frame", "iou_modulation": "sequence",
           "iou_refine": "frame", "classifier": "frame", "classifier_init": "sequence",
           "classifier_update": "update", "classifier_linearize": "update_unit", "classifier_cg_step": "update_unit"}


class Export:
    """One exported tracker: its folder, manifest, the reference network and phases, ORT runners."""

    def __init__(self, tracker, out_dir, model):
        self.tracker, self.out_dir, self.model = tracker, out_dir, model
        self.manifest = read_manifest(out_dir)
        self.phases = {phase.name: phase for phase in build_phases(model)}
        self._runners = {}

    def runner(self, name):
        if name not in self._runners:
            self._runners[name] = onnx_runner(self.out_dir / f"{name}.onnx").activate()
        return self._runners[name]

    def run(self, name, *arrays):
        phase = self.phases[name]
        feed = {spec.name: np.asarray(a, np.float32) for spec, a in zip(phase.inputs, arrays)}
        return list(self.runner(name).infer(feed).values())

    def assert_parity(self, name, args):
        result = check_phase(self.phases[name], self.runner(name), [phase_feed(self.phases[name], args)])
        assert result.passed, f"{self.tracker}:\n{result}"
        assert all(output.tolerance == TOL for output in result.outputs)


@pytest.fixture(scope="module", params=TRACKERS)
def exported(request, exports):
    checkpoint, out_dir = exports(request.param)
    reference, _ = load_model(checkpoint)
    return Export(request.param, out_dir, reference)


def test_manifest_records_phases_shapes_and_hashes(exported):
    manifest = exported.manifest
    assert manifest["tracker"] == exported.tracker and manifest["opset"] == 17
    assert manifest["source"]["weights"] == "checkpoint"
    assert manifest["source"]["sha256"] == sha256_file(exported.out_dir.parent / "net.safetensors")
    expected = EXPECTED_IO[exported.tracker]
    assert [p["name"] for p in manifest["phases"]] == list(expected)
    for phase in manifest["phases"]:
        want_in, want_out = expected[phase["name"]]
        assert {s["name"]: s["shape"] for s in phase["inputs"]} == want_in
        assert {s["name"]: s["shape"] for s in phase["outputs"]} == want_out
        assert phase["sha256"] == sha256_file(exported.out_dir / phase["file"])
        assert phase["cadence"] == CADENCE[phase["name"]]
        worst = max(p["relative_error"] for p in phase["parity_fp32"].values())
        assert worst <= TOL


def test_graphs_pass_checks_and_name_their_io(exported):
    for phase in exported.manifest["phases"]:
        runner = exported.runner(phase["name"])  # the graph's own shapes are the manifest's
        assert {n: list(m.shape) for n, m in runner.input_metadata().items()} == \
            {s["name"]: s["shape"] for s in phase["inputs"]}
        assert {n: list(m.shape) for n, m in runner.output_metadata().items()} == \
            {s["name"]: s["shape"] for s in phase["outputs"]}
        model = onnx.load(str(exported.out_dir / phase["file"]))
        report = check_graph(model)
        assert report.ok, report.problems
        assert set(report.op_types) <= TENSORRT_ONNX_OPS
        assert [v.name for v in model.graph.input] == [s["name"] for s in phase["inputs"]]
        assert [v.name for v in model.graph.output] == [s["name"] for s in phase["outputs"]]
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["edge_tracker.tracker"] == exported.tracker
        assert json.loads(meta["edge_tracker.config"])["tracker"] == exported.tracker


def test_parity_on_fresh_random_inputs(exported):
    for name, phase in exported.phases.items():
        exported.assert_parity(name, phase.example_inputs(seed=77))


@pytest.mark.parametrize("exported", ["aff-atom", "atom"], indirect=True)
def test_refinement_matches_the_backward_reference_and_moves_boxes(exported):
    phase = exported.phases["iou_refine"]
    args = phase.example_inputs(seed=5)
    got_boxes, got_ious = exported.run("iou_refine", *[a.numpy() for a in args])
    want_boxes, want_ious = refine_reference(exported.model, *args)
    scale = float(want_boxes.abs().max())
    assert np.max(np.abs(got_boxes - want_boxes.numpy())) <= TOL * scale
    assert np.max(np.abs(got_ious - want_ious.numpy())) <= TOL * float(want_ious.abs().max())
    # the unrolled steps really move the boxes (a graph that dropped them would pass parity with
    # a reference that also did nothing, but not this)
    assert np.max(np.abs(got_boxes - args[-1].numpy())) > 1e-3


# ------------------------------------------------------------------------------- on real crops

def _siam_crops(shared_data, cfg):
    images, boxes = read_otb_sequence(shared_data / "sequences/otb/Crossing", [0, 6])
    (x, y, w, h) = boxes[0]
    context = 0.5 * (w + h)
    z_side = math.sqrt((w + context) * (h + context))
    template = to_nchw(crop_square(images[0], box_center(boxes[0]), z_side * cfg.template_size / 127,
                                   cfg.template_size))
    x_side = z_side * cfg.search_size / 127
    search = np.concatenate([to_nchw(crop_square(images[1], box_center(boxes[0]), x_side * 1.0375 ** k,
                                                 cfg.search_size)) for k in (-1, 0, 1)])
    return template, search


def _atom_crops(shared_data, cfg):
    images, boxes = read_otb_sequence(shared_data / "sequences/otb/Crossing", [0, 6])
    crops, crop_boxes = [], []
    for image, box in zip(images, boxes):
        side = 5.0 * math.sqrt(box[2] * box[3])
        crops.append(to_nchw(crop_square(image, box_center(box), side, cfg.sample_size)))
        crop_boxes.append(box_to_crop(box, box_center(box), side, cfg.sample_size))
    return crops, crop_boxes


def test_parity_on_real_crops(exported, shared_data):
    cfg = exported.model.config
    t = torch.from_numpy
    if exported.tracker.endswith("siam"):
        template, search = _siam_crops(shared_data, cfg)
        (kernel,) = exported.run("template", template)
        exported.assert_parity("template", (t(template),))
        exported.assert_parity("search", (t(search), t(kernel)))
        (response,) = exported.run("search", search, kernel)
        assert response.shape == (3, 1, 17, 17) and np.isfinite(response).all()
        return
    crops, crop_boxes = _atom_crops(shared_data, cfg)
    first = exported.run("backbone", crops[0])
    current = exported.run("backbone", crops[1])
    exported.assert_parity("backbone", (t(crops[1]),))
    num_cls = len(cfg.classifier_layers)
    iou_first, iou_now = first[num_cls:], current[num_cls:]
    box = crop_boxes[0][None]
    exported.assert_parity("iou_modulation", tuple(map(t, iou_first)) + (t(box),))
    modulation = exported.run("iou_modulation", *iou_first, box)
    generator = np.random.default_rng(0)
    jitter = crop_boxes[1][None, None] * (1 + 0.1 * generator.standard_normal((1, cfg.num_proposals, 4)))
    proposals = jitter.astype(np.float32)
    args = tuple(map(t, iou_now)) + tuple(map(t, modulation)) + (t(proposals),)
    exported.assert_parity("iou_refine", args)
    boxes, _ = exported.run("iou_refine", *iou_now, *modulation, proposals)
    want, _ = refine_reference(exported.model, *args)
    assert np.max(np.abs(boxes - want.numpy())) <= TOL * float(want.abs().max())
    cls_args = []
    for layer_index, layer in enumerate(cfg.classifier_layers):
        channels = current[layer_index].shape[1]
        cls_args += [t(current[layer_index]),
                     torch.randn(cfg.cls_proj_dim, channels, 1, 1) / channels ** 0.5,
                     torch.randn(1, cfg.cls_proj_dim, cfg.cls_filter_size, cfg.cls_filter_size) / 16]
    exported.assert_parity("classifier", tuple(cls_args))


def test_narrow_aff_atom_exports_with_the_checkpoints_widths(tmp_path):
    """The demo AFF-ATOM's architecture (backbone_width 32, IoU-Net 128) travels in its checkpoint:
    the export builds that network, its graphs carry the narrow shapes, and parity holds."""
    from export.checkpoint import save_checkpoint
    from export.cli import main as export_main
    from export.models import build_model
    from export.models.config import AtomConfig
    from tests.conftest import randomise_batchnorm

    torch.manual_seed(3)
    model = build_model(AtomConfig(backbone_width=32, iou_pred_dim=128, iou_inter_dim=128))
    randomise_batchnorm(model)
    checkpoint = save_checkpoint(tmp_path / "narrow.safetensors", model, model.config)
    assert export_main(["-q", "onnx", "--tracker", "aff-atom", "--checkpoint", str(checkpoint),
                        "--out", str(tmp_path / "onnx")]) == 0
    manifest = read_manifest(tmp_path / "onnx")
    assert manifest["config"]["backbone_width"] == 32
    shapes = {spec["name"]: spec["shape"] for phase in manifest["phases"] for spec in phase["outputs"]}
    assert shapes["cls_layer3"] == [1, 128, 18, 18] and shapes["iou_layer4"] == [1, 256, 9, 9]
    assert shapes["modulation_layer3"] == [1, 128]
    worst = max(p["relative_error"] for phase in manifest["phases"] for p in phase["parity_fp32"].values())
    assert worst <= TOL
