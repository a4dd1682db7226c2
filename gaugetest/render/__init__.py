"""Renderers: rich/plain text tables, the results JSON, and file writing."""
