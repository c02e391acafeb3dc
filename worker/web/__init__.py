"""The web role: the HTTP API for watchlists and alerts, alert feeds, health and metrics.

`app.create_app` builds the ASGI application from a `WebContext` (Redis, settings, stores);
`role.run_web` serves it with uvicorn and keeps the alert index fed.
"""
