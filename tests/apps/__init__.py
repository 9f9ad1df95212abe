"""Small web apps that tests and ``bench/instrumentation`` run under ``opentelemetry-instrument``, as a
user's app would run: :mod:`.flask_app` (WSGI, for gunicorn) and :mod:`.fastapi_app` (ASGI, for
uvicorn), each with a real sqlite database and a real outbound HTTP call. :mod:`.server` starts one
in a subprocess and waits until it answers."""
