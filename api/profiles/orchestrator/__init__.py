"""The orchestrator profile: a ledger of problems, algorithms and data whose learning and
prediction tasks workers claim and report on, with HTTP Basic or bearer authentication and the
caller's tenancy."""
