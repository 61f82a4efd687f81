"""Each tracker's network cut where the tracker's phases split: one ONNX model per phase.

SCS-Siam (SPEC 2):
- ``template`` (once per sequence): template crop -> correlation kernel, attention and skip applied.
- ``search`` (every frame): the scale pyramid of search crops + kernel -> one response map per scale.

AFF-ATOM / ATOM (SPEC 1):
- ``backbone`` (every frame, and on the first frame): sample crop -> classifier features and IoU-Net
  features (MS-CAM refined for AFF-ATOM).
- ``iou_modulation`` (once per sequence): first-frame IoU features + target box -> modulation vectors.
- ``iou_refine`` (every frame): IoU features + modulation + proposals -> refined boxes and their IoUs,
  every gradient-ascent step unrolled inside the one graph.
- ``classifier`` (every frame): classifier features + the online-learned projections and filters ->
  the activated, confidence-fused score map, and each layer's projected features (what the learning
  graphs' sample memory stores).
- ``classifier_init``, ``classifier_update``, ``classifier_linearize``, ``classifier_cg_step``: the
  classifier's online learning (``export/classifier_phases.py``).

Conventions at every phase boundary: images float32 ``[N, 3, H, W]`` RGB 0..255; boxes float32
``x, y, w, h`` 0-based top-left in pixels of the crop the network sees.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_tracker.preprocess.geometry import response_grid_side

from export.classifier_phases import ONCE_PER_SEQUENCE, learning_phases
from export.models.atom_net import AtomNet
from export.models.classifier import filter_scores, fuse_responses, mlu, project_features
from export.models.config import LAYER_STRIDES, AtomConfig, SiamConfig
from export.models.scs_siam import ScsSiamNet
from export.phase_spec import Phase, TensorSpec

__all__ = ["AtomRefine", "Phase", "TensorSpec", "build_phases", "refine_reference"]


def build_phases(model: nn.Module) -> list[Phase]:
    """The exportable phases of a network built by ``export.models.build_model``."""
    if isinstance(model, ScsSiamNet):
        return _siam_phases(model)
    if isinstance(model, AtomNet):
        return _atom_phases(model)
    raise TypeError(f"no phases defined for {type(model).__name__}")


# ----------------------------------------------------------------------------------------- SCS-Siam

class _SiamTemplate(nn.Module):
    def __init__(self, net: ScsSiamNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, template: torch.Tensor) -> torch.Tensor:
        return self.net.template_kernel(template)


class _SiamSearch(nn.Module):
    def __init__(self, net: ScsSiamNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return self.net.correlate(kernel, self.net.search_features(search))


def _siam_phases(net: ScsSiamNet) -> list[Phase]:
    cfg: SiamConfig = net.config
    t, s, m = cfg.template_size, cfg.search_size, cfg.num_scales
    with torch.no_grad():
        kernel_shape = tuple(net.template_kernel(torch.zeros(1, 3, t, t)).shape)
        feat_side = net.search_features(torch.zeros(1, 3, s, s)).shape[-1]
    response = feat_side - kernel_shape[-1] + 1
    template = TensorSpec("template", (1, 3, t, t), f"template crop, RGB 0..255, {t}x{t} px")
    kernel = TensorSpec("kernel", kernel_shape, "correlation kernel (attention and skip applied)")
    search = TensorSpec("search", (m, 3, s, s), f"{m} search crops (scales), RGB 0..255, {s}x{s} px")
    responses = TensorSpec("response", (m, 1, response, response),
                           f"raw response per scale, {response}x{response} cells at stride 8")
    return [
        Phase("template", _SiamTemplate(net), (template,), (kernel,), "once per sequence",
              "SCS-Siam template branch: B once (soft mask sigma = 1 at inference), psi, attention, skip",
              lambda g: (_image((1, 3, t, t), g),), cadence=ONCE_PER_SEQUENCE),
        Phase("search", _SiamSearch(net), (search, kernel), (responses,), "every frame",
              "SCS-Siam search branch for all scales + cross-correlation with the kernel",
              lambda g: (_image((m, 3, s, s), g), torch.randn(kernel_shape, generator=g))),
    ]


# ---------------------------------------------------------------------------------------- AFF-ATOM

class _AtomBackbone(nn.Module):
    def __init__(self, net: AtomNet, keys: tuple[str, ...]) -> None:
        super().__init__()
        self.net, self.keys = net, keys

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.net.extract(image)
        return tuple(feats[key] for key in self.keys)


class _AtomModulation(nn.Module):
    def __init__(self, net: AtomNet) -> None:
        super().__init__()
        self.iou_net = net.iou_net

    def forward(self, feat_a: torch.Tensor, feat_b: torch.Tensor, box: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        mod_a, mod_b = self.iou_net.get_modulation((feat_a, feat_b), box)
        return mod_a.flatten(1), mod_b.flatten(1)


class AtomRefine(nn.Module):
    """IoU-Net box refinement as ATOM does it, written with ``torch.func`` so it traces to one graph.

    Each step: ``boxes += step * dIoU/dboxes * [w, h, w, h]``, then ``step *= decay``. Returns the
    boxes after the last step and, as ATOM ranks them, the IoUs predicted for the boxes *before*
    that last step (with 0 steps: the IoUs of the input proposals).
    """

    def __init__(self, net: AtomNet) -> None:
        super().__init__()
        self.iou_net = net.iou_net
        self.iterations = net.config.refine_iterations
        self.step = net.config.refine_step
        self.decay = net.config.refine_step_decay

    def forward(self, feat_a: torch.Tensor, feat_b: torch.Tensor, mod_a: torch.Tensor,
                mod_b: torch.Tensor, proposals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        iou_feat = self.iou_net.get_iou_feat((feat_a, feat_b))
        modulation = (mod_a, mod_b)

        def total_iou(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            ious = self.iou_net.predict_iou(modulation, iou_feat, boxes)
            return ious.sum(), ious

        boxes = proposals
        if self.iterations == 0:
            return boxes, total_iou(boxes)[1]
        grad_and_iou = torch.func.grad(total_iou, has_aux=True)
        step = self.step
        for _ in range(self.iterations):
            grad, ious = grad_and_iou(boxes)
            boxes = boxes + step * grad * boxes[..., 2:].repeat(1, 1, 2)
            step = step * self.decay
        return boxes, ious


def refine_reference(net: AtomNet, feat_a, feat_b, mod_a, mod_b, proposals):
    """ATOM's refinement loop written with ``Tensor.backward``: the independent reference for parity."""
    iou_net = net.iou_net
    cfg = net.config
    with torch.no_grad():
        iou_feat = iou_net.get_iou_feat((feat_a, feat_b))
    boxes = proposals.clone()
    step = cfg.refine_step
    ious = None
    for _ in range(cfg.refine_iterations):
        init = boxes.clone().detach().requires_grad_(True)
        ious = iou_net.predict_iou((mod_a, mod_b), iou_feat, init)
        ious.backward(gradient=torch.ones_like(ious))
        boxes = (init + step * init.grad * init[..., 2:].repeat(1, 1, 2)).detach()
        step *= cfg.refine_step_decay
    if ious is None:
        with torch.no_grad():
            ious = iou_net.predict_iou((mod_a, mod_b), iou_feat, boxes)
    return boxes, ious.detach()


class _AtomClassifier(nn.Module):
    def __init__(self, net: AtomNet) -> None:
        super().__init__()
        self.layers = net.config.classifier_layers
        self.alpha = net.config.response_alpha
        self.eps = net.config.fusion_eps

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # args: (feat, projection, filter) for each classifier layer, in config order
        projected = [project_features(*args[3 * i: 3 * i + 2]) for i in range(len(self.layers))]
        responses = [mlu(filter_scores(z, args[3 * i + 2]), self.alpha) for i, z in enumerate(projected)]
        scores = fuse_responses(responses, [LAYER_STRIDES[layer] for layer in self.layers], self.eps)
        return (scores, *projected)


def _atom_phases(net: AtomNet) -> list[Phase]:
    cfg: AtomConfig = net.config
    size, k, d = cfg.sample_size, cfg.cls_filter_size, cfg.cls_proj_dim

    def feat_spec(prefix: str, layer: str, what: str) -> TensorSpec:
        side = size // LAYER_STRIDES[layer]
        return TensorSpec(f"{prefix}_{layer}", (1, cfg.layer_channels(layer), side, side),
                          f"{what}, {layer} (stride {LAYER_STRIDES[layer]})")

    iou_what = "IoU-Net input features" + (" (MS-CAM refined)" if cfg.iaff else "")
    cls_specs = tuple(feat_spec("cls", layer, "classifier features") for layer in cfg.classifier_layers)
    iou_specs = tuple(feat_spec("iou", layer, iou_what) for layer in cfg.iou_layers)
    image = TensorSpec("image", (1, 3, size, size), f"sample crop, RGB 0..255, {size}x{size} px")
    box = TensorSpec("box", (1, 4), "target box in the first-frame crop, xywh px")
    mods = tuple(TensorSpec(f"modulation_{layer}", (1, cfg.iou_pred_dim), "IoU-Net modulation vector")
                 for layer in cfg.iou_layers)
    proposals = TensorSpec("proposals", (1, cfg.num_proposals, 4), "candidate boxes, xywh px in the crop")
    boxes = TensorSpec("boxes", (1, cfg.num_proposals, 4), "refined boxes, xywh px in the crop")
    ious = TensorSpec("ious", (1, cfg.num_proposals), "predicted IoU of each box before its last step")
    cls_inputs: list[TensorSpec] = []
    for spec, layer in zip(cls_specs, cfg.classifier_layers):
        channels = cfg.layer_channels(layer)
        cls_inputs += [spec,
                       TensorSpec(f"projection_{layer}", (d, channels, 1, 1), "learned 1x1 projection"),
                       TensorSpec(f"filter_{layer}", (1, d, k, k), f"learned {k}x{k} filter")]
    score_side = response_grid_side(size, LAYER_STRIDES[cfg.classifier_layers[0]], k)
    scores = TensorSpec("scores", (1, 1, score_side, score_side),
                        f"activated{' fused' if len(cls_specs) > 1 else ''} score map, "
                        f"stride {LAYER_STRIDES[cfg.classifier_layers[0]]}")
    projected = tuple(TensorSpec(f"projected_{layer}", (1, d, *spec.shape[2:]),
                                 "features through the projection (a sample of the learning graphs' memory)")
                      for spec, layer in zip(cls_specs, cfg.classifier_layers))

    def sample_features(specs, g):
        return tuple(torch.relu(torch.randn(spec.shape, generator=g)) for spec in specs)

    def sample_boxes(count, g):
        # targets near the crop centre with about 1/5 of its side (search area = 5x the target)
        wh = size / 5 * (0.6 + 0.8 * torch.rand(1, count, 2, generator=g))
        xy = size / 2 - wh / 2 + size / 20 * torch.randn(1, count, 2, generator=g)
        return torch.cat((xy, wh), dim=-1)

    def sample_classifier(g):
        args = []
        for i in range(0, len(cls_inputs), 3):
            feat, proj, filt = cls_inputs[i: i + 3]
            args += [torch.relu(torch.randn(feat.shape, generator=g)),
                     torch.randn(proj.shape, generator=g) / proj.shape[1] ** 0.5,
                     torch.randn(filt.shape, generator=g) / (filt.shape[1] * k * k) ** 0.5]
        return tuple(args)

    return [
        Phase("backbone", _AtomBackbone(net, tuple(s.name for s in cls_specs + iou_specs)), (image,),
              cls_specs + iou_specs, "every frame",
              f"ResNet-18{' with iAFF in layer3/layer4' if cfg.iaff else ''}: classifier and IoU features",
              lambda g: (_image(image.shape, g),)),
        Phase("iou_modulation", _AtomModulation(net), iou_specs + (box,), mods, "once per sequence",
              "IoU-Net reference branch: first-frame features + target box -> modulation vectors",
              lambda g: sample_features(iou_specs, g) + (sample_boxes(1, g)[0],), cadence=ONCE_PER_SEQUENCE),
        Phase("iou_refine", AtomRefine(net), iou_specs + mods + (proposals,), (boxes, ious), "every frame",
              f"IoU-Net test branch + {cfg.refine_iterations} unrolled gradient-ascent steps",
              lambda g: sample_features(iou_specs, g) + sample_features(mods, g)
              + (sample_boxes(cfg.num_proposals, g),),
              functional_grad=True),
        Phase("classifier", _AtomClassifier(net), tuple(cls_inputs), (scores, *projected), "every frame",
              "online classifier scores: projection, filter, mlu activation, confidence fusion",
              sample_classifier),
        *learning_phases(net),
    ]


def _image(shape, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator) * 255.0
