"""Redis: connection (external or embedded), every key name, and stream consumer helpers."""
