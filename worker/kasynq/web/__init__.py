"""`kasynq web`: the web console (queues, tasks, servers, scheduler) served by aiohttp.

Needs the `web` extra (aiohttp); the rest of kasynq does not import this package.
"""
