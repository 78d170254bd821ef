"""The MNIST MLP pipeline in PyTorch + torchvision, mirroring keras_impl/ file for file."""
