"""Predictors: a tenant's named models, from the training request to registered versions, their
explanations and their predictions."""
