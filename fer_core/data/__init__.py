"""The data layer: datasets by name in one in-memory form, augmentation, face crops, sprites and
the TensorBoard projector bundle. Imports nothing from the layers above; no TensorFlow here.

# Example
```python
from fer_core.data import load_dataset
test = load_dataset("fer2013").subset("test")   # 3,589 faces, labels, ids
```
"""
# The layer's front door: cheap names only (augment imports TensorFlow: import it by module).
from fer_core.data.base import Dataset, group_kfold_splits, group_split
from fer_core.data.registry import DATASET_NAMES, dataset_path, find_datasets, load_dataset

__all__ = ["DATASET_NAMES", "Dataset", "dataset_path", "find_datasets", "group_kfold_splits", "group_split",
           "load_dataset"]
