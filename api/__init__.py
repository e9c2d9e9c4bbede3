"""Strata's REST API: a Litestar app factory, controllers per module, guards and error mapping."""
