"""Logs now; metrics and traces arrive with the telemetry issue."""
