"""What both pipelines share: the spec, the MNIST files and split, alignment, results, parity."""
