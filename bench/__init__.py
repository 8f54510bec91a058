"""Benchmarks: kasynq against Go asynq and the Python task queues (`make bench`)."""
