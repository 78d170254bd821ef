"""Augmentation: one random affine warp per sample, torchvision's RandomAffine."""

from __future__ import annotations

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from shared.spec import Spec


def random_affine(spec: Spec) -> v2.RandomAffine:
    """The per-sample random warp; it draws its own angle, shift and scale on every call."""
    a = spec.augment
    return v2.RandomAffine(
        degrees=a.degrees,
        translate=(a.translate, a.translate),
        scale=a.scale,
        interpolation=v2.InterpolationMode(a.interpolation),
        # [augment-fill] fill=None is plain zero padding, as Keras's constant fill; RandomAffine's
        # default fill=0 resamples a mask and darkens border pixels a second time
        fill=None,
    )


def affine(images: torch.Tensor, angles, translations, scales, interpolation: str) -> torch.Tensor:
    """Warp a batch (B, 1, H, W) with GIVEN per-sample parameters: angle (degrees, + = clockwise),
    translation (tx, ty) in pixels (+ = right, down), scale (> 1 = bigger)."""
    return torch.stack(
        [
            F.affine(
                image,
                angle=float(angle),
                translate=[float(t) for t in shift],
                scale=float(scale),
                shear=[0.0, 0.0],
                interpolation=v2.InterpolationMode(interpolation),
                fill=None,
            )
            for image, angle, shift, scale in zip(images, angles, translations, scales)
        ]
    )
