"""The quickstart profile: a pickled 5-D regression dataset, an MLP trained on it, predictions,
and a reset; no authentication, confined to the sandbox tenant."""
