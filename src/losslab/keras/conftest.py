"""Keep pytest's ``--doctest-modules`` pass (run over ``src/losslab``) from importing Keras.

Importing these modules imports Keras and its backend (TensorFlow by default): seconds
and hundreds of MB in the main test process, and an error where the extra is not
installed. ``tests/keras/test_keras_losses.py`` runs their doctests instead, once per
installed backend, each in its own process.
"""

collect_ignore = ["_ops.py", "_base.py", "losses.py", "real.py", "unit.py"]
