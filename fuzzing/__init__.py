"""Fuzz targets, drivers and seed corpus for fastws (see README.md and docs/fuzzing.md)."""
