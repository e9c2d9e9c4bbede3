"""Machine learning: training, forecasting, explanations, MLflow tracking and registry, serving."""
