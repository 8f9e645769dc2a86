"""Test support: a misbehaving HTTP target server and helpers to drive the CLI."""
