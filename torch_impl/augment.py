"""Augmentation: one random affine warp per sample, torchvision's RandomAffine: per sample on the
classic path; on the batched one, BatchRandomAffine, one draw per sample and one warp for the batch,
on the grid F.affine builds (the same draws give the same images)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.functional import grid_sample
from torchvision.transforms import v2

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


class BatchRandomAffine(nn.Module):
    """A RandomAffine for whole batches (B, C, H, W): a fresh angle, shift and scale per sample, drawn
    as RandomAffine.make_params draws one set, then one warp for the batch. v2.RandomAffine itself
    draws once per call: called on a batch, it would warp every sample alike."""

    def __init__(self, transform: v2.RandomAffine, generator: torch.Generator):
        super().__init__()
        if transform.shear is not None or transform.center is not None:
            raise ValueError("BatchRandomAffine draws no shear and turns about the image centre")
        self.transform = transform  # the settings: degrees, translate, scale, interpolation, fill
        self.generator = generator

    def draw_params(self, batch_size: int, height: int, width: int):
        """(angles (B,), translations (B, 2), scales (B,)) on the CPU: U(degrees); whole-pixel shifts
        round(U(-f * W, f * W)), rounded half to even as torchvision's round(); U(scale)."""
        t = self.transform
        fx, fy = t.translate or (0.0, 0.0)
        max_dx, max_dy = fx * width, fy * height

        def uniform(low, high):  # float32, as make_params's torch.empty(1).uniform_
            return torch.empty(batch_size).uniform_(low, high, generator=self.generator)

        angles = uniform(*t.degrees)
        shifts = torch.stack([uniform(-max_dx, max_dx), uniform(-max_dy, max_dy)], 1).round()
        return angles, shifts, uniform(*(t.scale or (1.0, 1.0)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        angles, translations, scales = self.draw_params(len(images), *images.shape[-2:])
        interpolation = v2.InterpolationMode(self.transform.interpolation).value
        return affine(images, angles, translations, scales, interpolation, self.transform.fill)


def affine(images: torch.Tensor, angles, translations, scales, interpolation: str, fill=None):
    """Warp a batch (B, C, H, W) with GIVEN per-sample parameters: angle (degrees, + = clockwise),
    translation (tx, ty) in pixels (+ = right, down), scale (> 1 = bigger). fill as F.affine's:
    None is plain zero padding. One grid_sample for the batch, bit-equal to F.affine per sample."""
    height, width = images.shape[-2:]
    dtype, device = images.dtype, images.device
    # Each sample's output -> input map about the image centre, computed in float64 as F.affine
    # computes it (in Python floats; torchvision's _get_inverse_affine_matrix, without shear).
    angles = torch.as_tensor(angles, dtype=torch.float64) * (math.pi / 180)
    scales = torch.as_tensor(scales, dtype=torch.float64)
    tx, ty = torch.as_tensor(translations, dtype=torch.float64).unbind(1)
    cos, sin = angles.cos() / scales, angles.sin() / scales
    theta = torch.stack([cos, sin, -cos * tx - sin * ty, -sin, cos, sin * tx - cos * ty], 1)
    theta = theta.view(-1, 2, 3).to(device, dtype)
    # torchvision's grid: pixel centres about the image centre, mapped, then divided by (W/2, H/2)
    # into grid_sample's [-1, 1] (align_corners=False). torch.nn.functional.affine_grid takes theta
    # in [-1, 1] units already and rounds otherwise: 3e-6 off torchvision's F.affine here.
    ys, xs = (
        torch.linspace((1 - n) / 2, (n - 1) / 2, n, dtype=dtype, device=device)
        for n in (height, width)
    )
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    pixels = torch.stack([x, y, torch.ones_like(x)], -1).view(1, -1, 3).expand(len(theta), -1, -1)
    half_size = torch.tensor([width / 2, height / 2], dtype=dtype, device=device)
    grid = pixels.bmm(theta.transpose(1, 2) / half_size).view(-1, height, width, 2)
    if fill is None:
        return grid_sample(images, grid, interpolation, padding_mode="zeros", align_corners=False)
    # torchvision's fill: a channel of ones is warped along, and the fill blended in through it
    ones = torch.ones_like(images[:, :1])
    warped = grid_sample(torch.cat([images, ones], 1), grid, interpolation, "zeros", False)
    warped, mask = warped[:, :-1], warped[:, -1:]
    if interpolation == "nearest":
        return torch.where(mask < 0.5, fill, warped)
    return (warped - fill) * mask + fill
