"""Builders, probe hooks and process-state helpers shared by the tests."""
