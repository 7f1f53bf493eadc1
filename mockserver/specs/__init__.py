"""Spec files, their errata overlays, and the linter that finds defects."""
