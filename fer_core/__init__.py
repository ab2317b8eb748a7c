"""FER Studio core: datasets, models, training, evaluation and inference.

Importing this package is cheap: nothing here imports TensorFlow. Modules that
need it (``fer_core.training.zoo``, ``fer_core.training.loop``, ``fer_core.runs.evaluation``)
import it themselves.
"""

__version__ = "0.1.0"


def _load_srtp_before_tensorflow():
    """Loads aiortc's SRTP library (``pylibsrtp``, used by the live webcam) before TensorFlow can be.

    With tensorflow-cpu 2.21, importing ``pylibsrtp`` (so ``aiortc`` / ``streamlit_webrtc``)
    after TensorFlow crashes the process (segmentation fault); the other order is fine.
    Every TensorFlow import in FER Studio goes through ``fer_core``, so doing it here keeps
    the dashboard's server alive whichever page is opened first. About 50 ms.
    """
    import sys

    if "tensorflow" in sys.modules:  # too late: importing it now would crash
        return
    try:
        import pylibsrtp  # noqa: F401
    except ImportError:  # the live webcam's packages are not installed
        pass


_load_srtp_before_tensorflow()
