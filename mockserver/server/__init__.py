"""Everything that speaks HTTP lives in this package.

``app`` assembles the ASGI application: ``router`` picks the contract by path
(and answers 404/405, CORS and the docs), Connexion (``connexion_glue``)
routes the operation and validates the request, and ``dispatch`` runs the
handler and sends its JSON or SSE answer after validating it.
"""
