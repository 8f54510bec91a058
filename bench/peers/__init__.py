"""Task modules for each system, run inside that system's virtualenv.

They import only the standard library, redis-py and the system itself, never `bench` modules
outside this package, so they run under any of the bench virtualenvs.
"""
