"""The domain logic of the API profiles beyond the contract's: the jobs profile, the quickstart
sandbox."""
