"""`python -m torch_parity.side`: the PyTorch pipeline with the parity instruments attached, as
compare.py runs it (shared/instrumented_side.py says what one run does)."""

from __future__ import annotations

import sys

import torch

import torch_impl.pipeline as assembled
from shared import cli, instrumented_side
from torch_impl.device import describe, select_device
from torch_parity.ablation import apply_ablations
from torch_parity.alignment import align
from torch_parity.audit_rows import describe_pipeline
from torch_parity.lockstep import Lockstep


class InstrumentedSide:
    framework = "torch"

    def start(self, args, spec) -> str:
        self.device = cli.or_usage_error(select_device, args.device)
        return describe(self.device)

    def new_result(self, spec, mode, align_seed):
        return assembled.new_run_result(spec, self.device, mode, align_seed)

    def build(self, spec, splits):
        return assembled.build_pipeline(spec, splits, self.device)

    def ablate(self, pipeline, spec) -> None:
        apply_ablations(pipeline, spec)

    def describe(self, pipeline, spec, device: str) -> dict:
        return describe_pipeline(spec, pipeline, device)

    def align(self, pipeline, spec, splits, seed: int) -> None:
        self.sampler = align(pipeline, spec, splits, seed)

    def lockstep(self, pipeline, spec, splits, seed: int) -> Lockstep:
        return Lockstep(spec, seed, pipeline, self.sampler)

    def run(self, pipeline, spec, splits, result, quiet, stopwatch) -> None:
        assembled.run_pipeline(pipeline, spec, splits, self.device, result, quiet, stopwatch)

    def save(self, pipeline, path: str) -> None:
        torch.save(pipeline.model.state_dict(), path)


def main(argv=None) -> int:
    return instrumented_side.main(InstrumentedSide(), argv)


if __name__ == "__main__":
    sys.exit(cli.run_main("torch", main))
