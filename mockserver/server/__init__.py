"""Everything that speaks HTTP lives in this package.

``app`` assembles the ASGI application: ``router`` picks the contract by path
(and answers 404/405, CORS and the docs), Connexion (``connexion_glue``)
routes the operation and validates the request, and ``dispatch`` runs the
handler and sends its JSON or SSE answer after validating it.
"""

import warnings

# Connexion imports Starlette's test client when it is imported (for its
# ``App.test_client()``, which the mock never uses); without the ``httpx2``
# package installed, that client warns on every start that using ``httpx`` is
# deprecated. Every import of Connexion in the mock is inside this package, so
# this filter is in place before the first one.
warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
