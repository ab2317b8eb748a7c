"""The runs layer: run records (reading, test figures, comparisons), evaluation and metrics, model
cards, verification of every stated figure, and background training jobs. Built on the layers below.

# Example
```python
from fer_core.runs.evaluation import evaluate_model
evaluate_model("assets/models/emotion.keras", "fer2013", "PrivateTest")["accuracy"]
```
"""
