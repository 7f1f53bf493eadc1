"""Record and replay, in vcrpy's pieces: cassettes (``cassette``), the
request matcher (``matchers``), secret filters (``filters``), the persister
(atomic files, ``cassette``), record modes (``modes``), recorded
conversations (``conversations``), and why a recording missed a request
(``near_miss``). The recording proxy itself speaks HTTP and lives in
``mockserver.server.proxy``.
"""
