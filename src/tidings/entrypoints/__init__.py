"""Entry points: the HTTP API, the command line, and (later) the console and the worker."""
