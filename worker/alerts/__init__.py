"""Alerts: building them (pure), signing them, deciding retries (pure), delivering them."""
