"""`python -m keras_parity.side`: the Keras pipeline with the parity instruments attached, as
compare.py runs it (shared/instrumented_side.py says what one run does)."""

from __future__ import annotations

import sys

import keras

import keras_impl.pipeline as assembled
from keras_impl.device import describe, select_device
from keras_parity.ablation import apply_ablations
from keras_parity.alignment import align
from keras_parity.audit_rows import describe_pipeline
from keras_parity.lockstep import Lockstep
from shared import cli, instrumented_side


class InstrumentedSide:
    framework = "keras"

    def start(self, args, spec) -> str:
        assembled.check_model_path(args.save_model)
        self.device = cli.or_usage_error(select_device, args.device)
        return f"{describe(self.device)}, {keras.backend.backend()} backend"

    def new_result(self, spec, mode, align_seed):
        return assembled.new_run_result(spec, self.device, mode, align_seed)

    def build(self, spec, splits):
        return assembled.build_pipeline(spec, splits)

    def ablate(self, pipeline, spec) -> None:
        apply_ablations(pipeline, spec)

    def describe(self, pipeline, spec, device: str) -> dict:
        return describe_pipeline(spec, pipeline, device)

    def align(self, pipeline, spec, splits, seed: int) -> None:
        align(pipeline, spec, splits, seed)

    def lockstep(self, pipeline, spec, splits, seed: int) -> Lockstep:
        return Lockstep(spec, seed, pipeline)

    def run(self, pipeline, spec, splits, result, quiet, stopwatch) -> None:
        assembled.run_pipeline(pipeline, spec, splits, result, quiet, stopwatch)

    def save(self, pipeline, path: str) -> None:
        pipeline.model.save(path)


def main(argv=None) -> int:
    return instrumented_side.main(InstrumentedSide(), argv)


if __name__ == "__main__":
    sys.exit(cli.run_main("keras", main))
