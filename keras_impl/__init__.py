"""The MNIST MLP pipeline in Keras 3 on TensorFlow, mirroring torch_impl/ file for file."""
