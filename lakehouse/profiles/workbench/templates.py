"""The workbench's model templates: the original's eight scikit-learn models and Strata's
XGBoost and LightGBM, each a Strata algorithm for a kind of problem, with the parameters a
client may set (declared in `lakehouse.ml.hyperparameters`, so bounds are checked once)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lakehouse.errors import InvalidInputError, NotFoundError
from lakehouse.ml.hyperparameters import Hyperparameter, checked_hyperparameters, declared
from lakehouse.ml.spec import Algorithm, ProblemType

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS = ("r2", "rmse", "mae", "mse")
CLUSTERING_METRICS = ("silhouette", "inertia")


@dataclass(frozen=True)
class ModelTemplate:
    id: str
    name: str
    task: str
    """classification, regression or clustering"""
    description: str
    library: str
    import_path: str
    model_class: str
    algorithm: Algorithm
    offered: tuple[str, ...] | None = None
    """The algorithm's hyperparameters this template offers; None: all of them."""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    """Hyperparameters the template sets itself (ordinary least squares: no penalty)."""

    @property
    def problem(self) -> ProblemType:
        return {
            "classification": ProblemType.CLASSIFICATION,
            "regression": ProblemType.REGRESSION,
            "clustering": ProblemType.CLUSTERING,
        }[self.task]

    @property
    def metrics(self) -> tuple[str, ...]:
        return {
            "classification": CLASSIFICATION_METRICS,
            "regression": REGRESSION_METRICS,
        }.get(self.task, CLUSTERING_METRICS)

    @property
    def parameters(self) -> tuple[Hyperparameter, ...]:
        return tuple(
            p
            for p in declared(self.algorithm, self.problem)
            if (self.offered is None or p.key in self.offered) and p.key not in self.fixed
        )

    def hyperparameters(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The template's fixed hyperparameters and the client's, checked; one the template
        does not offer is refused, naming what it offers."""
        given = dict(given or {})
        offered = {p.key for p in self.parameters}
        for key in given:
            if key not in offered:
                takes = ", ".join(sorted(offered)) or "none"
                raise InvalidInputError(
                    f"unknown parameter '{key}' for {self.id}; it takes {takes}", field=key
                )
        return {**self.fixed, **checked_hyperparameters(self.algorithm, self.problem, given)}

    def document(self) -> dict[str, Any]:
        """As the original lists a template."""
        return {
            "id": self.id,
            "name": self.name,
            "taskType": self.task,
            "description": self.description,
            "library": self.library,
            "importPath": self.import_path,
            "modelClass": self.model_class,
            "metrics": list(self.metrics),
            "parameters": [p.document() for p in self.parameters],
        }


def _sklearn(module: str, model_class: str) -> tuple[str, str, str]:
    return "sklearn", f"sklearn.{module}", model_class


TEMPLATES: tuple[ModelTemplate, ...] = (
    ModelTemplate(
        "random_forest_classifier",
        "Random forest classifier",
        "classification",
        "An ensemble of decision trees voting on the class; robust on mixed tabular data.",
        *_sklearn("ensemble", "RandomForestClassifier"),
        Algorithm.RANDOM_FOREST,
    ),
    ModelTemplate(
        "logistic_regression",
        "Logistic regression",
        "classification",
        "A linear model of the class probabilities; fast and easy to read.",
        *_sklearn("linear_model", "LogisticRegression"),
        Algorithm.LINEAR,
    ),
    ModelTemplate(
        "random_forest_regressor",
        "Random forest regressor",
        "regression",
        "An ensemble of decision trees averaging their predictions.",
        *_sklearn("ensemble", "RandomForestRegressor"),
        Algorithm.RANDOM_FOREST,
    ),
    ModelTemplate(
        "linear_regression",
        "Linear regression",
        "regression",
        "Ordinary least squares: a straight-line fit of the target.",
        *_sklearn("linear_model", "LinearRegression"),
        Algorithm.LINEAR,
        fixed={"alpha": 0.0},
    ),
    ModelTemplate(
        "ridge_regression",
        "Ridge regression",
        "regression",
        "Least squares with an L2 penalty that keeps the coefficients small.",
        *_sklearn("linear_model", "Ridge"),
        Algorithm.LINEAR,
    ),
    ModelTemplate(
        "knn_classifier",
        "K-nearest neighbours classifier",
        "classification",
        "The class most common among the nearest training rows.",
        *_sklearn("neighbors", "KNeighborsClassifier"),
        Algorithm.KNN,
    ),
    ModelTemplate(
        "gradient_boosting_classifier",
        "Gradient boosting classifier",
        "classification",
        "Shallow trees added one after another, each correcting the last.",
        *_sklearn("ensemble", "GradientBoostingClassifier"),
        Algorithm.GRADIENT_BOOSTING,
    ),
    ModelTemplate(
        "kmeans",
        "K-means clustering",
        "clustering",
        "Groups the rows into k clusters around their means; no target column.",
        *_sklearn("cluster", "KMeans"),
        Algorithm.KMEANS,
    ),
    ModelTemplate(
        "xgboost_classifier",
        "XGBoost classifier",
        "classification",
        "Regularised gradient-boosted trees; strong on tabular data.",
        "xgboost",
        "xgboost",
        "XGBClassifier",
        Algorithm.XGBOOST,
    ),
    ModelTemplate(
        "xgboost_regressor",
        "XGBoost regressor",
        "regression",
        "Regularised gradient-boosted trees for a numeric target.",
        "xgboost",
        "xgboost",
        "XGBRegressor",
        Algorithm.XGBOOST,
    ),
    ModelTemplate(
        "lightgbm_classifier",
        "LightGBM classifier",
        "classification",
        "Gradient-boosted trees grown leaf-wise; fast on large tables.",
        "lightgbm",
        "lightgbm",
        "LGBMClassifier",
        Algorithm.LIGHTGBM,
    ),
    ModelTemplate(
        "lightgbm_regressor",
        "LightGBM regressor",
        "regression",
        "Gradient-boosted trees grown leaf-wise, for a numeric target.",
        "lightgbm",
        "lightgbm",
        "LGBMRegressor",
        Algorithm.LIGHTGBM,
    ),
)
BY_ID = {template.id: template for template in TEMPLATES}


def template_of(template_id: str) -> ModelTemplate:
    template = BY_ID.get(template_id)
    if template is None:
        raise NotFoundError(
            f"Unknown template '{template_id}'; the templates are {', '.join(BY_ID)}",
            field="templateId",
        )
    return template
