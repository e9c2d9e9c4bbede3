"""API profiles: neighbouring systems' APIs served on Strata's engine."""
