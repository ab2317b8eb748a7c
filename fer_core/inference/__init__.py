"""The inference layer: image decoding, face detection, the LiteRT / Keras runtimes, the face
pipeline, overlays, video and saliency. Built on ``fer_core.data``; no TensorFlow unless a Keras
model (or MTCNN) is asked for.

# Example
```python
from fer_core.inference.pipeline import FacePipeline
results = FacePipeline()(image_bgr)   # one FaceResult per face: box, emotion, probabilities, keypoints
```
"""
