"""``/docs``: Swagger UI served by the app itself (no CDN), which asks for the API token.

The page and Swagger UI's files (from the ``swagger-ui-bundle`` package, under
``/docs/assets/``) carry no secret and need no token, so a plain browser can open them; the
schema (``/openapi.json``) stays behind the token like every route but ``/healthz``. The page
asks for the token, fetches the schema with it and sends it with every request made from the
page ("Try it out"). The token stays in the page's memory: it is not stored.

Every URL of the page is relative, so it also works behind a path prefix, and nothing is
fetched from another host (Swagger UI's online validator badge is off).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_PAGE", "install_docs"]

log = logging.getLogger(__name__)

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>covering API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
<style>
  #token-form { font-family: sans-serif; margin: 1em 2em; }
  #token-form input { width: 28em; }
  #token-status { margin-left: 1em; }
</style>
</head>
<body>
<form id="token-form">
  <label>API token (one of <code>COVERING_API_TOKENS</code>)
    <input id="token" type="password" autocomplete="off" required></label>
  <button type="submit">Show the API</button>
  <span id="token-status" role="status"></span>
</form>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script>
(function () {
  "use strict";
  var form = document.getElementById("token-form");
  var input = document.getElementById("token");
  var status = document.getElementById("token-status");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var token = input.value.trim();
    var auth = "Bearer " + token;
    status.textContent = "loading...";
    fetch("openapi.json", {headers: {"Authorization": auth}}).then(function (r) {
      if (r.status === 401) { status.textContent = "this token is refused"; return; }
      if (!r.ok) { status.textContent = "the schema answered " + r.status; return; }
      return r.json().then(function (spec) {
        status.textContent = "";
        var ui = SwaggerUIBundle({
          spec: spec,
          dom_id: "#swagger-ui",
          validatorUrl: null,
          deepLinking: true,
          requestInterceptor: function (req) { req.headers["Authorization"] = auth; return req; },
          onComplete: function () { ui.preauthorizeApiKey("HTTPBearer", token); }
        });
      });
    }).catch(function (e) { status.textContent = "no answer: " + e; });
  });
})();
</script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Serve ``GET /docs`` and Swagger UI's files under ``/docs/assets/`` (no token needed).

    Without the ``swagger-ui-bundle`` package (part of the ``[service]`` extra) there is no
    ``/docs``; the schema is still at ``/openapi.json``.
    """
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("no /docs: the swagger-ui-bundle package is not installed")
        return
    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)
