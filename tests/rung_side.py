"""One side of the numeric rung (tests/test_numeric_rung.py), in a process of its own:
python tests/rung_side.py keras|torch float32|float64 OUT.npz [KEY=VALUE ...]

The same initial weights and the same 128 real training images, no augmentation, no dropout:
the logits, the loss and every gradient of one forward and backward pass; then every parameter after
three optimizer steps from the same weights with the same given gradients (shared_gradients), so
that the optimizers are compared alone. All in Keras's layout, written to OUT.npz.
"""

import sys

import numpy as np

STEPS = 3


def shared_gradients(weights, dtype: str, step: int):
    """Gradients of every scale from 1e-9 to 1e-1 and some exact zeros, in Keras's layout."""
    rng = np.random.default_rng([5, step])
    grads = []
    for w in weights:
        g = rng.standard_normal(w.shape) * 10.0 ** rng.uniform(-9, -1, w.shape)
        grads.append(np.where(rng.random(w.shape) < 0.1, 0.0, g).astype(dtype))
    return grads


def main(side: str, out_dir: str, *dtypes: str) -> None:
    """Each dtype's rung of `side`, written to OUT_DIR/SIDE-DTYPE.npz: one process per side."""
    for dtype in dtypes:
        rung(side, dtype, f"{out_dir}/{side}-{dtype}.npz")


def rung(side: str, dtype: str, out: str) -> None:
    if side == "torch":
        import torch  # torch before anything that may import TensorFlow

    from shared.align import initial_weights
    from shared.spec import load_spec
    from shared.splits import load_splits

    spec = load_spec(["augment.enabled=false", "model.dropout=0.0", f"train.dtype={dtype}"])
    splits = load_splits(spec)
    images, labels = splits.x_train[:128], splits.y_train[:128].astype(np.int64)
    weights = initial_weights(spec, 0)
    if side == "keras":
        import keras
        import tensorflow as tf

        from keras_impl.model import build_model
        from keras_impl.train import make_loss, make_optimizer
        from keras_parity.alignment import load_initial_weights

        keras.config.set_floatx(dtype)
        keras.config.set_dtype_policy(dtype)
        model = build_model(spec)
        model.compile(optimizer=make_optimizer(spec), loss=make_loss())
        load_initial_weights(model, weights)
        logits = model(images[..., None], training=True)  # no dropout, no augmentation
        loss = make_loss()(labels, logits)
        with tf.GradientTape() as tape:  # the TensorFlow backend's own gradient call
            step_loss = make_loss()(labels, model(images[..., None], training=True))
        grads = tape.gradient(step_loss, model.trainable_variables)
        variables = model.trainable_variables
        for step in range(STEPS):
            model.optimizer.apply_gradients(zip(shared_gradients(weights, dtype, step), variables))
        params = [v.value for v in variables]
        arrays = [logits, loss, *grads, *params]
        values = [keras.ops.convert_to_numpy(a) for a in arrays]
    else:
        from torch_impl.data import preprocess
        from torch_impl.model import build_model
        from torch_impl.train import make_loss, make_optimizer
        from torch_parity.alignment import linear_layers, load_initial_weights

        def keras_layout(pick):  # [kernel_0, bias_0, ...]: each weight transposed, as Keras's
            return [t for m in linear_layers(model) for t in (pick(m.weight).T, pick(m.bias))]

        torch.set_num_threads(1)
        model = build_model(spec).to(getattr(torch, dtype))
        load_initial_weights(model, weights, spec)
        optimizer, loss_fn = make_optimizer(model, spec), make_loss()
        batch = preprocess(spec, augment=False)(torch.from_numpy(images).unsqueeze(1))
        model.train()
        logits = model(batch)
        loss = loss_fn(logits, torch.from_numpy(labels))
        loss.backward()
        grads = [g.clone() for g in keras_layout(lambda t: t.grad)]
        for step in range(STEPS):
            given = shared_gradients(weights, dtype, step)
            for view, grad in zip(keras_layout(lambda t: t.grad), given):
                view.copy_(torch.from_numpy(grad))  # weight.grad.T for a kernel: a view
            optimizer.step()
        arrays = [logits, loss, *grads, *keras_layout(lambda t: t)]
        values = [a.detach().numpy() for a in arrays]
    n = len(weights)
    np.savez(
        out,
        logits=values[0],
        loss=values[1],
        **{f"grad{i}": v for i, v in enumerate(values[2 : 2 + n])},
        **{f"param{i}": v for i, v in enumerate(values[2 + n :])},
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
