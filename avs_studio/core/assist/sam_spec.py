"""Which SAM-family exporter wrote an ONNX encoder/decoder pair, told by input/output names.

The pairs users hold come from a handful of exporters (samexporter, X-AnyLabeling's zoo,
osam/labelme, EdgeSAM's and EfficientSAM's own scripts, onnxruntime's SAM 2 tools). They
differ in names, dtypes, coordinate frames and what the graph does itself. The *decoder*
tells the family, the *encoder* how to prepare the image:

==============  =====================================  ==========================================
family          decoder inputs (by name)               host work
==============  =====================================  ==========================================
SAM 1 / Mobile  image_embeddings, point_coords,        longest side to 1024; a padding point
(ViT-B/L/H)     point_labels, mask_input,              (0, 0, -1); masks from ``low_res_masks``
                has_mask_input, orig_im_size           (cropped to the unpadded part, resized)
EdgeSAM         image_embeddings, point_coords,        as SAM 1, no padding point; outputs
                point_labels (outputs scores, masks)   ``scores`` then low-res ``masks``
SAM 2 / 2.1     image_embed + high_res_feats_0/1 (A),  image stretched to 1024x1024, ImageNet
                image_embeddings + high_res_features1/2 normalisation; coordinates scaled per
                (B), image_features_0/1 + image_      axis; the graph adds the padding point;
                embeddings (C)                         low-res masks stretched back
EfficientSAM    batched_point_coords (original px),    the graph resizes and normalises; at most
                batched_point_labels, orig_im_size     6 points; outputs read by position
==============  =====================================  ==========================================

SAM-HQ (``interm_embeddings``) and other signatures are refused with the names found.
Everything here works on plain name/dtype/shape tables, so it is testable without models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avs_studio.core.assist.prompt import AssistUnavailable

__all__ = ["Port", "SamSpec", "detect_pair"]

SAM_MEAN = (123.675, 116.28, 103.53)  # 0..255 scale: SAM 1, MobileSAM, EdgeSAM
SAM_STD = (58.395, 57.12, 57.375)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # 0..1 scale: SAM 2, EfficientSAM
IMAGENET_STD = (0.229, 0.224, 0.225)
MODEL_SIDE = 1024
LOWRES = 256


@dataclass(frozen=True)
class Port:
    """One graph input or output: name, element type ("float", "int64"...), shape."""

    name: str
    dtype: str
    shape: tuple


@dataclass
class SamSpec:
    """How to run one detected pair (see the module docstring)."""

    family: str  # sam | edgesam | sam2 | efficientsam
    flavour: str  # the exporter, for messages
    encoder_input: str
    image_prep: str  # sam_hwc | sam_nchw | stretch | original
    encoder_outputs: dict[str, str]  # role (embed, feats0, feats1) -> output name
    decoder_inputs: dict[str, Port]  # role -> input
    decoder_outputs: dict[str, int]  # role (masks, scores, low_res) -> output position
    coords: str  # longest | stretch | original
    padding_point: bool
    max_points: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """What the user sees: "SAM 2 (samexporter)"."""
        names = {"sam": "SAM / MobileSAM", "edgesam": "EdgeSAM", "sam2": "SAM 2", "efficientsam": "EfficientSAM"}
        return f"{names.get(self.family, self.family)} ({self.flavour})"


def _by_name(ports: list[Port]) -> dict[str, Port]:
    return {p.name: p for p in ports}


def detect_pair(enc_in: list[Port], enc_out: list[Port], dec_in: list[Port], dec_out: list[Port]) -> SamSpec:
    """The :class:`SamSpec` of an encoder/decoder pair, or an AssistUnavailable naming
    what was found."""
    dins = _by_name(dec_in)
    names = set(dins)
    out_names = [p.name for p in dec_out]
    if any("interm_embeddings" in n for n in names) or "hq_token_only" in names:
        raise AssistUnavailable("the decoder is a SAM-HQ export (interm_embeddings): not supported; "
                                "use a SAM, MobileSAM, EdgeSAM, EfficientSAM or SAM 2 pair")  # fmt: skip
    if "batched_point_coords" in names:
        spec = _efficientsam(dins, dec_out)
    elif {"high_res_feats_0", "high_res_feats_1"} <= names:
        spec = _sam2(dins, dec_out, ("image_embed", "high_res_feats_0", "high_res_feats_1"), "samexporter")
    elif {"high_res_features1", "high_res_features2"} <= names:
        spec = _sam2(dins, dec_out, ("image_embeddings", "high_res_features1", "high_res_features2"), "osam")
    elif {"image_features_0", "image_features_1"} <= names:
        spec = _sam2(dins, dec_out, ("image_embeddings", "image_features_0", "image_features_1"), "onnxruntime")
    elif {"image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input",
          "orig_im_size"} <= names:  # fmt: skip
        outs = {"low_res": out_names.index("low_res_masks") if "low_res_masks" in out_names else None,
                "scores": out_names.index("iou_predictions") if "iou_predictions" in out_names else 1,
                "masks": out_names.index("masks") if "masks" in out_names else 0}  # fmt: skip
        if outs["low_res"] is None:
            raise AssistUnavailable(f"the SAM decoder has no low_res_masks output (outputs: {', '.join(out_names)})")
        spec = SamSpec("sam", "segment-anything export", "", "", {}, _ports(dins, {
            "embed": "image_embeddings", "coords": "point_coords", "labels": "point_labels",
            "mask_input": "mask_input", "has_mask": "has_mask_input", "orig_size": "orig_im_size"}),
            {k: v for k, v in outs.items() if v is not None}, "longest", True)  # fmt: skip
    elif names == {"image_embeddings", "point_coords", "point_labels"} and "scores" in out_names:
        spec = SamSpec("edgesam", "EdgeSAM export", "", "", {}, _ports(dins, {
            "embed": "image_embeddings", "coords": "point_coords", "labels": "point_labels"}),
            {"scores": out_names.index("scores"), "low_res": out_names.index("masks") if "masks" in out_names
             else 1 - out_names.index("scores")}, "longest", False)  # fmt: skip
    else:
        raise AssistUnavailable(
            "not a SAM-family decoder this version knows: inputs "
            f"{', '.join(sorted(names))}; outputs {', '.join(out_names)}"
        )
    _encoder(spec, enc_in, enc_out)
    return spec


def _ports(dins: dict[str, Port], roles: dict[str, str]) -> dict[str, Port]:
    return {role: dins[name] for role, name in roles.items() if name in dins}


def _sam2(dins: dict[str, Port], dec_out: list[Port], feats: tuple[str, str, str], flavour: str) -> SamSpec:
    embed, f0, f1 = feats
    mask_in = "input_masks" if "input_masks" in dins else "mask_input"
    has_mask = "has_input_masks" if "has_input_masks" in dins else "has_mask_input"
    orig = next((n for n in ("orig_im_size", "original_image_size") if n in dins), None)
    roles = {"embed": embed, "feats0": f0, "feats1": f1, "coords": "point_coords", "labels": "point_labels",
             "mask_input": mask_in, "has_mask": has_mask}  # fmt: skip
    if orig is not None:
        roles["orig_size"] = orig
    missing = [n for n in roles.values() if n not in dins]
    if missing:
        raise AssistUnavailable(f"the SAM 2 decoder lacks input(s) {', '.join(missing)}")
    out_names = [p.name for p in dec_out]
    outs = {"masks": out_names.index("masks") if "masks" in out_names else 0,
            "scores": out_names.index("iou_predictions") if "iou_predictions" in out_names else 1}  # fmt: skip
    if "low_res_masks" in out_names:
        outs["low_res"] = out_names.index("low_res_masks")
    else:
        shape = dec_out[outs["masks"]].shape
        if len(shape) == 4 and shape[-2:] == (LOWRES, LOWRES):  # flavour A: "masks" is low-res
            outs["low_res"] = outs["masks"]
    if flavour == "samexporter" and orig is not None:
        flavour = "samexporter + orig_im_size"
    return SamSpec("sam2", flavour, "", "", {}, _ports(dins, roles), outs, "stretch", False)


def _efficientsam(dins: dict[str, Port], dec_out: list[Port]) -> SamSpec:
    roles = {"embed": "image_embeddings", "coords": "batched_point_coords", "labels": "batched_point_labels",
             "orig_size": "orig_im_size"}  # fmt: skip
    missing = [n for n in roles.values() if n not in dins]
    if missing:
        raise AssistUnavailable(f"the EfficientSAM decoder lacks input(s) {', '.join(missing)}")
    # torch left the third output unnamed: read the outputs by position
    return SamSpec("efficientsam", "EfficientSAM export", "", "", {}, _ports(dins, roles),
                   {"masks": 0, "scores": 1}, "original", False, max_points=6)  # fmt: skip


def _encoder(spec: SamSpec, enc_in: list[Port], enc_out: list[Port]) -> None:
    """Fill in how to prepare the image for the encoder, and check it matches the decoder."""
    if len(enc_in) != 1:
        raise AssistUnavailable(f"the encoder has {len(enc_in)} inputs ({', '.join(p.name for p in enc_in)}); "
                                "a SAM-family encoder takes one image")  # fmt: skip
    port = enc_in[0]
    spec.encoder_input = port.name
    static = len(port.shape) == 4 and all(isinstance(d, int) and d > 0 for d in port.shape[2:])
    if spec.family == "sam2":
        if len(enc_out) != 3:
            raise AssistUnavailable(f"a SAM 2 decoder needs a SAM 2 encoder (3 outputs); this one has {len(enc_out)}")
        spec.image_prep = "stretch"
        by_channels = {}
        for p in enc_out:
            channels = p.shape[1] if len(p.shape) > 1 else None
            by_channels[{32: "feats0", 64: "feats1", 256: "embed"}.get(channels, p.name)] = p.name
        wanted = {spec.decoder_inputs[r].name: r for r in ("embed", "feats0", "feats1")}
        for p in enc_out:  # a name shared with a decoder input settles it
            if p.name in wanted:
                by_channels[wanted[p.name]] = p.name
        if not {"embed", "feats0", "feats1"} <= set(by_channels):
            raise AssistUnavailable("cannot tell the SAM 2 encoder's outputs apart: "
                                    + ", ".join(f"{p.name}{list(p.shape)}" for p in enc_out))  # fmt: skip
        spec.encoder_outputs = {r: by_channels[r] for r in ("embed", "feats0", "feats1")}
        return
    if len(enc_out) != 1:
        raise AssistUnavailable(f"this decoder needs an encoder with one output (the embedding); it has {len(enc_out)}")
    spec.encoder_outputs = {"embed": enc_out[0].name}
    if spec.family == "efficientsam" or port.name == "batched_images":
        spec.image_prep = "original"
    elif len(port.shape) == 3:
        spec.image_prep = "sam_hwc"  # samexporter --use-preprocess: the graph normalises and pads
    elif len(port.shape) == 4 and static:
        spec.image_prep = "sam_nchw"
    elif len(port.shape) == 4:
        spec.image_prep = "original"
    else:
        raise AssistUnavailable(f"the encoder's input {port.name}{list(port.shape)} is not an image this version knows")
    if spec.family == "efficientsam" and spec.image_prep != "original":
        raise AssistUnavailable("an EfficientSAM decoder needs the EfficientSAM encoder (input batched_images)")
