"""Accounts: tenants, users, their login sessions, roles and permissions."""
