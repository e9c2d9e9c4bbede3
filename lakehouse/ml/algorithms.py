"""The algorithms a predictor may use: their hyperparameters checked, their preprocessing
(imputing, scaling, one-hot encoding) and their estimators, as one scikit-learn pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline
from lakehouse.errors import InvalidInputError
from lakehouse.ml.hyperparameters import with_defaults
from lakehouse.ml.spec import Algorithm, ProblemType

# `auto` tries these on the validation split and keeps the best.
AUTO_CANDIDATES = ("XGBoost", "LightGBM", "RandomForest", "Linear")


MAX_CATEGORIES = 50


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


def check_algorithm(algorithm: Algorithm, problem: ProblemType) -> Algorithm:
    """The algorithm, if it solves the problem: k-means groups rows and nothing else does
    (`auto` for a clustering is k-means)."""
    clustering = problem is ProblemType.CLUSTERING
    if clustering and algorithm is Algorithm.AUTO:
        return Algorithm.KMEANS
    if clustering != (algorithm is Algorithm.KMEANS):
        needed = "KMeans" if clustering else "an algorithm other than KMeans"
        raise InvalidInputError(
            f"{algorithm.value} does not solve a {problem.value} problem; it needs {needed}",
            field="algorithm",
        )
    return algorithm


def estimator(
    algorithm: Algorithm, problem: ProblemType, seed: int, params: Mapping[str, Any] | None = None
) -> Any:
    """The algorithm's estimator with its hyperparameters: those chosen, defaults for the rest
    (see `lakehouse.ml.hyperparameters`)."""
    classify = problem is ProblemType.CLASSIFICATION
    chosen = with_defaults(algorithm, problem, params)
    if algorithm is Algorithm.XGBOOST:
        import xgboost

        kind = xgboost.XGBClassifier if classify else xgboost.XGBRegressor
        return kind(**chosen, random_state=seed, n_jobs=2)
    if algorithm is Algorithm.LIGHTGBM:
        import lightgbm

        kind = lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor
        return kind(**chosen, random_state=seed, n_jobs=2, verbose=-1)
    if algorithm is Algorithm.RANDOM_FOREST:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        kind = RandomForestClassifier if classify else RandomForestRegressor
        return kind(**chosen, random_state=seed, n_jobs=2)
    if algorithm is Algorithm.GRADIENT_BOOSTING:
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        kind = GradientBoostingClassifier if classify else GradientBoostingRegressor
        return kind(**chosen, random_state=seed)
    if algorithm is Algorithm.KNN:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        kind = KNeighborsClassifier if classify else KNeighborsRegressor
        return kind(**chosen)
    if algorithm is Algorithm.KMEANS:
        from sklearn.cluster import KMeans

        return KMeans(**chosen, n_init=10, random_state=seed)
    if algorithm is Algorithm.LINEAR:
        from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

        if classify:
            return LogisticRegression(**chosen)
        return Ridge(**chosen) if chosen["alpha"] > 0 else LinearRegression()
    if algorithm is Algorithm.MLP:
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        kind = MLPClassifier if classify else MLPRegressor
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

    scaled = algorithm in (Algorithm.LINEAR, Algorithm.MLP, Algorithm.KNN, Algorithm.KMEANS)
    return Pipeline(
        [
            ("prepare", preprocessor(features, scaled)),
            ("model", estimator(algorithm, problem, seed, params)),
        ]
    )
