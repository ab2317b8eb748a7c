"""The training layer: the model zoo, losses, the training loop with resumable run folders, weight
averaging and TFLite export. Built on ``fer_core.data`` and ``fer_core.inference``.

# Example
```python
from fer_core.training.loop import TrainConfig, train
test_split = train(TrainConfig(model="mini_xception", data="fer2013", epochs=60), "runs/mx")
```
(``fer_core.runs.recording.train_run`` does the same and writes the test figures too.)
"""
