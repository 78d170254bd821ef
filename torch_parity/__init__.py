"""The parity instruments of the PyTorch side: attached from outside to the pipeline torch_impl/ builds."""
