"""Logins, users, tenants, roles and permissions."""
