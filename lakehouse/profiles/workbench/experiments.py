"""The workbench's experiments beyond a single model: models compared metric by metric (with
a Welch t-test on the cross-validation scores of two), and simple phrases about models read
as filter predicates, deterministically."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lakehouse.errors import InvalidInputError

MIN_COMPARED, MAX_COMPARED = 2, 5
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Compared:
    """A model as a comparison reads it: its record's fields and its evaluation, if ready."""

    model_id: str
    name: str
    template_id: str
    task: str
    metrics: Mapping[str, float]
    evaluation: Mapping[str, Any] | None


def check_count(model_ids: Sequence[str]) -> None:
    if not MIN_COMPARED <= len(model_ids) <= MAX_COMPARED:
        raise InvalidInputError(
            f"modelIds must name {MIN_COMPARED} to {MAX_COMPARED} models, not {len(model_ids)}",
            field="modelIds",
        )


def comparison(models: Sequence[Compared]) -> dict[str, Any]:
    """Each metric the models share with its values, in the models' order, and the spread
    between best and worst; for the cross-validation score too, with Welch's t-test (p-value)
    when two models are compared and both evaluations are ready."""
    tasks = {m.task for m in models}
    if len(tasks) > 1:
        raise InvalidInputError(
            f"models of different tasks ({', '.join(sorted(tasks))}) share no metric to compare",
            field="modelIds",
        )
    shared = [k for k in models[0].metrics if all(is_number(m.metrics.get(k)) for m in models)]
    deltas: list[dict[str, Any]] = []
    for metric in shared:
        values = [float(m.metrics[metric]) for m in models]
        deltas.append({"metric": metric, "values": values, "delta": max(values) - min(values)})
    folds = [cv_scores(m.evaluation) for m in models]
    if all(folds):
        scoring = {str(m.evaluation["cross_validation"]["scoring"]) for m in models if m.evaluation}
        if len(scoring) == 1:
            means = [sum(scores) / len(scores) for scores in folds]
            entry: dict[str, Any] = {
                "metric": f"cv_{scoring.pop()}",
                "values": means,
                "delta": max(means) - min(means),
            }
            if len(models) == 2:
                entry |= welch(folds[0], folds[1])
            deltas.append(entry)
    return {
        "models": [
            {
                "modelId": m.model_id,
                "name": m.name,
                "templateId": m.template_id,
                "metrics": dict(m.metrics),
                "cvScores": cv_scores(m.evaluation) or None,
            }
            for m in models
        ],
        "deltas": deltas,
    }


def is_number(value: Any) -> bool:
    """A metric a comparison can subtract: a finite number (not a list of cluster sizes)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def cv_scores(evaluation: Mapping[str, Any] | None) -> list[float]:
    if not evaluation:
        return []
    return [float(v) for v in evaluation.get("cross_validation", {}).get("scores") or []]


def welch(first: Sequence[float], second: Sequence[float]) -> dict[str, Any]:
    """Welch's t-test of two models' fold scores: `pValue` and `significant` (below 0.05);
    no p-value when both are constant (nothing to test)."""
    from scipy import stats

    if len(first) < 2 or len(second) < 2:
        return {}
    result = stats.ttest_ind(first, second, equal_var=False)
    p_value = float(result.pvalue)
    if not math.isfinite(p_value):
        return {"pValue": None, "significant": False}
    return {
        "pValue": p_value,
        "tStatistic": float(result.statistic),
        "significant": p_value < SIGNIFICANCE,
    }


# Phrases of comparison, longest first so "greater than or equal to" wins over "greater than".
OPERATOR_PHRASES = (
    ("greater than or equal to", "gte"),
    ("less than or equal to", "lte"),
    ("at least", "gte"),
    ("at most", "lte"),
    ("no less than", "gte"),
    ("no more than", "lte"),
    ("greater than", "gt"),
    ("more than", "gt"),
    ("higher than", "gt"),
    ("better than", "gt"),
    ("less than", "lt"),
    ("lower than", "lt"),
    ("fewer than", "lt"),
    ("equal to", "eq"),
    ("exceeds", "gt"),
    ("above", "gt"),
    ("over", "gt"),
    ("below", "lt"),
    ("under", "lt"),
    ("contains", "contains"),
    ("containing", "contains"),
    ("includes", "contains"),
    ("like", "contains"),
    ("equals", "eq"),
    ("is", "eq"),
    (">=", "gte"),
    ("<=", "lte"),
    ("==", "eq"),
    (">", "gt"),
    ("<", "lt"),
    ("=", "eq"),
)
FIELD_ALIASES = {
    "auc": "roc_auc",
    "roc auc": "roc_auc",
    "f1 score": "f1",
    "r squared": "r2",
    "r^2": "r2",
    "rmse": "rmse",
    "error": "rmse",
    "model name": "name",
    "template": "templateId",
    "task": "taskType",
    "algorithm": "algorithm",
    "training time": "trainingMs",
}
# The fields of a model a predicate may name: its metrics and its record's fields.
FIELDS = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "cv_accuracy_mean",
        "r2",
        "rmse",
        "mae",
        "mse",
        "silhouette",
        "name",
        "templateId",
        "algorithm",
        "taskType",
        "status",
        "trainingMs",
    }
)
FILLER = re.compile(
    r"^(?:(?:show|find|list|only|models?|experiments?|with|where|whose|that|have|has|the|an?)"
    r"\b\s*)+"
)
CLAUSES = re.compile(r"\s*(?:,|;|&|\band\b)\s*")
MAX_PHRASE = 1000


def parse_filter(phrase: str) -> list[dict[str, Any]]:
    """Predicates `{field, operator, value}` read from phrases such as "accuracy above 0.9 and
    name contains forest" or "rmse < 3"; a clause it cannot read is left out (the original's
    own fallback answers no predicates at all)."""
    predicates = []
    for clause in CLAUSES.split(phrase.strip().lower()[:MAX_PHRASE]):
        found = predicate(FILLER.sub("", clause).strip())
        if found is not None:
            predicates.append(found)
    return predicates


def predicate(clause: str) -> dict[str, Any] | None:
    for phrase, operator in OPERATOR_PHRASES:
        word = phrase[0].isalpha()
        pattern = rf"\s+{re.escape(phrase)}\s+" if word else rf"\s*{re.escape(phrase)}\s*"
        parts = re.split(pattern, clause, maxsplit=1)
        if len(parts) != 2:
            continue
        field, raw = parts[0].strip(), parts[1].strip().strip("'\"")
        field = re.sub(r"\s+(?:is|of|was)$", "", field).strip()
        if not field or not raw:
            return None
        field = FIELD_ALIASES.get(field, field.replace(" ", "_"))
        if field not in FIELDS:
            return None
        value = number(raw)
        if value is None and operator in ("gt", "lt", "gte", "lte"):
            return None  # an order needs a number
        return {"field": field, "operator": operator, "value": raw if value is None else value}
    return None


def number(text: str) -> float | None:
    """A number as written, a percentage as a share ("90%" is 0.9)."""
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(%|percent)?", text)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 100 if match.group(2) else value
