"""The algorithms a predictor may use: their hyperparameters checked, their preprocessing
(imputing, scaling, one-hot encoding) and their estimators, as one scikit-learn pipeline."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lakehouse.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline
from lakehouse.ml.spec import Algorithm, ProblemType

# `auto` tries these on the validation split and keeps the best.
AUTO_CANDIDATES = ("XGBoost", "LightGBM", "RandomForest", "Linear")


MAX_CATEGORIES = 50


MLP_DEFAULTS: dict[str, Any] = {"epochs": 500, "learning_rate": 0.001, "hidden_layers": [64, 32]}


def preprocessor(features: pd.DataFrame, scaled: bool) -> Any:
    """Imputes missing values and encodes categories, so users need not prepare them."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [
        c
        for c in features.columns
        if pd.api.types.is_numeric_dtype(features[c])
        and not pd.api.types.is_bool_dtype(features[c])
    ]
    categorical = [c for c in features.columns if c not in numeric]
    numeric_steps: list[Any] = [SimpleImputer(strategy="median")]
    if scaled:
        numeric_steps.append(StandardScaler())
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(*numeric_steps), numeric),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)"),
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        max_categories=MAX_CATEGORIES,
                        sparse_output=False,
                    ),
                ),
                categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )


def whole_number(value: Any) -> Any:
    """`value` as an int when it is a whole number (JSON's 684.0 is 684); anything else,
    booleans included, is given back to be refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked_hyperparameters(
    algorithm: Algorithm, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The hyperparameters a client set, checked. MLP takes `epochs` (1-1000),
    `learning_rate` (0 < rate <= 1) and `hidden_layers` (1-10 layers of 1-4096 neurons)."""
    given = dict(given or {})
    if not given:
        return {}
    if algorithm is not Algorithm.MLP:
        raise InvalidInputError(
            f"hyperparameters are taken by the MLP algorithm, not {algorithm.value}",
            field="hyperparameters",
        )
    unknown = sorted(set(given) - set(MLP_DEFAULTS))
    if unknown:
        raise InvalidInputError(
            f"unknown hyperparameter '{unknown[0]}'; MLP takes epochs, learning_rate and "
            "hidden_layers",
            field=unknown[0],
        )
    checked: dict[str, Any] = {}
    if "epochs" in given:
        epochs = whole_number(given["epochs"])
        if not is_count(epochs) or not 1 <= epochs <= 1000:
            raise InvalidInputError(
                f"epochs must be a whole number from 1 to 1000, not {epochs!r}", field="epochs"
            )
        checked["epochs"] = epochs
    if "learning_rate" in given:
        rate = given["learning_rate"]
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or not 0 < rate <= 1
        ):
            raise InvalidInputError(
                f"learning_rate must be a number above 0 and at most 1, not {rate!r}",
                field="learning_rate",
            )
        checked["learning_rate"] = float(rate)
    if "hidden_layers" in given:
        layers = given["hidden_layers"]
        if isinstance(layers, list | tuple):
            layers = [whole_number(n) for n in layers]
        if (
            not isinstance(layers, list)
            or not 1 <= len(layers) <= 10
            or not all(is_count(n) and 1 <= n <= 4096 for n in layers)
        ):
            raise InvalidInputError(
                f"hidden_layers must list 1 to 10 layer sizes, each a whole number from 1 to "
                f"4096, not {layers!r}",
                field="hidden_layers",
            )
        checked["hidden_layers"] = list(layers)
    return checked


def estimator(
    algorithm: Algorithm, problem: ProblemType, seed: int, params: Mapping[str, Any] | None = None
) -> Any:
    classify = problem is ProblemType.CLASSIFICATION
    if algorithm is Algorithm.XGBOOST:
        import xgboost

        kind = xgboost.XGBClassifier if classify else xgboost.XGBRegressor
        return kind(n_estimators=300, learning_rate=0.05, max_depth=4, random_state=seed, n_jobs=2)
    if algorithm is Algorithm.LIGHTGBM:
        import lightgbm

        kind = lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor
        return kind(n_estimators=300, learning_rate=0.05, random_state=seed, n_jobs=2, verbose=-1)
    if algorithm is Algorithm.RANDOM_FOREST:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        kind = RandomForestClassifier if classify else RandomForestRegressor
        return kind(n_estimators=300, random_state=seed, n_jobs=2)
    if algorithm is Algorithm.LINEAR:
        from sklearn.linear_model import LogisticRegression, Ridge

        return LogisticRegression(max_iter=2000) if classify else Ridge()
    if algorithm is Algorithm.MLP:
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        kind = MLPClassifier if classify else MLPRegressor
        chosen = {**MLP_DEFAULTS, **(params or {})}
        return kind(
            hidden_layer_sizes=tuple(chosen["hidden_layers"]),
            max_iter=chosen["epochs"],
            learning_rate_init=chosen["learning_rate"],
            # Epochs a client asked for are all run; by default, stop once loss stalls.
            n_iter_no_change=chosen["epochs"] if params and "epochs" in params else 10,
            random_state=seed,
        )
    raise ValueError(f"{algorithm} is chosen among candidates, not fitted directly")


def model_pipeline(
    algorithm: Algorithm,
    problem: ProblemType,
    features: pd.DataFrame,
    seed: int,
    params: Mapping[str, Any] | None = None,
) -> Pipeline:
    from sklearn.pipeline import Pipeline

    scaled = algorithm in (Algorithm.LINEAR, Algorithm.MLP)
    return Pipeline(
        [
            ("prepare", preprocessor(features, scaled)),
            ("model", estimator(algorithm, problem, seed, params)),
        ]
    )
