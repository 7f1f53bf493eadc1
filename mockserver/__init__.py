"""mockserver: a spec-driven mock server for Chat Completions APIs.

One request flows one way: parse and validate -> choose a source -> build the
reply -> render JSON or SSE -> validate -> send. See DESIGN.md.
"""

__version__ = "0.1.0"
