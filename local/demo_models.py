"""The models the local edition can serve (`make demo DEMO_MODEL=...`): what is trained, under which name, and
the sample row it is asked about.

- `diabetes` (the default): LinearRegression on scikit-learn's diabetes data, a number per row.
- `iris`: LogisticRegression on iris with string class labels and a string feature (`petal_size`, one-hot
  encoded inside the model), trained from a CSV through `train --data --target --task classification`: the
  service answers class names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


def iris_frame() -> pd.DataFrame:
    """Iris with string class labels (`species`) and a string feature (`petal_size`) next to the numeric ones."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.data.set_axis(["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1)
    sizes = pd.cut(frame["petal_length"], [0, 2.5, 5.0, 10], labels=["small", "medium", "large"])
    frame["petal_size"] = sizes.astype(str)
    frame["species"] = [str(iris.target_names[t]) for t in iris.target]
    return frame


def _no_data(state_dir: Path) -> list[str]:
    return []


def _iris_data(state_dir: Path) -> list[str]:
    path = state_dir / "iris.csv"
    if not path.exists():
        iris_frame().to_csv(path, index=False)
    return ["--data", str(path), "--target", "species", "--task", "classification"]


@dataclass(frozen=True)
class DemoModel:
    key: str
    model_name: str
    sample_row: Mapping[str, float | str]
    # The `python -m training train/seed` arguments that pick its data, writing the data under the state folder.
    data_args: Callable[[Path], list[str]] = field(default=_no_data)


DIABETES = DemoModel(
    key="diabetes",
    model_name="linear_regression",
    sample_row={"age": 0.038, "sex": 0.051, "bmi": 0.062, "bp": 0.022, "s1": -0.044, "s2": -0.035,
                "s3": -0.043, "s4": -0.003, "s5": 0.020, "s6": -0.018},
)  # fmt: skip
IRIS = DemoModel(
    key="iris",
    model_name="iris",
    sample_row={"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2,
                "petal_size": "small"},
    data_args=_iris_data,
)  # fmt: skip
DEMO_MODELS = {model.key: model for model in (DIABETES, IRIS)}
