"""FER Studio core: datasets, models, training, evaluation and inference.

Importing this package is cheap: nothing here imports TensorFlow. Modules that
need it (``fer_core.models``, ``fer_core.training``, ``fer_core.evaluation``)
import it themselves.
"""

__version__ = "0.1.0"
