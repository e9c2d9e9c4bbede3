"""Trainings, feature importance and predictions."""
