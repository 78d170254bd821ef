"""The parity instruments of the Keras side: attached from outside to the pipeline keras_impl/ builds."""

import keras_impl  # noqa: F401  (its environment settings, before Keras is imported)
