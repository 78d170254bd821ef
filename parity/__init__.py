"""What compare.py, bench.py and the calibration use: launching a side, the checks, the report.

The two pipelines never import this package; a reader of keras_impl/ and torch_impl/ can skip it.
"""
