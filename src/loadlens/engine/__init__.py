"""The load engine: HTTP client, virtual users, executors, workers and the coordinator."""
