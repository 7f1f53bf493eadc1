"""Record and replay, in vcrpy's pieces: cassettes (``cassette``), the
request matcher (``matchers``), secret filters (``filters``), the persister
(atomic files, ``cassette``), and recorded conversations (``conversations``).
The recording proxy itself speaks HTTP and lives in ``mockserver.server.proxy``.
"""
