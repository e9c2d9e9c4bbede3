"""A Strata model as MLflow loads it: the skops pipeline behind MLflow's pyfunc interface.

MLflow logs this file as code ("models from code"), so a registered version holds source
and skops files, never a pickle. MLflow runs the file when it loads the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

ARTIFACT = "model"


class StrataModel(PythonModel):
    """Predictions (and class probabilities) for a frame of raw feature columns."""

    def load_context(self, context) -> None:
        from lakehouse.model_files import load_model

        self.model = load_model(Path(context.artifacts[ARTIFACT]))

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        result = pd.DataFrame({"prediction": self.model.predict(model_input)})
        probabilities = self.model.predict_proba(model_input)
        if probabilities is not None and self.model.classes is not None:
            for index, label in enumerate(self.model.classes):
                result[f"probability_{label}"] = probabilities[:, index]
        return result


mlflow.models.set_model(StrataModel())
