"""This project's own models, as keras_impl/ and torch_impl/ build them: the MLP and the CNN
(model.kind = "cnn"). The Keras preprocessing layers are left out: the tool hands both models the same
images. The tool carries the weights.

    mnist-parity pair --keras examples.pairs.project:keras_mlp --torch examples.pairs.project:torch_mlp
    mnist-parity pair --keras examples.pairs.project:keras_cnn --torch examples.pairs.project:torch_cnn
"""

from shared.spec import load_spec

CNN = ["model.kind=cnn"]


def keras_mlp(settings=()):
    import keras  # in the builders: each half imports only its own framework

    from keras_impl.model import build_model

    model = build_model(load_spec(list(settings)))
    layers = [layer for layer in model.layers if layer.name != "preprocessing"]
    return keras.Sequential([keras.Input((28, 28, 1)), *layers])


def torch_mlp(settings=()):
    from torch_impl.model import Net

    return Net(load_spec(list(settings)))


def keras_cnn():
    return keras_mlp(CNN)


def torch_cnn():
    return torch_mlp(CNN)
