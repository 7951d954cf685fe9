"""Interactive views served over MCP Apps: one self-contained HTML page per view (served by `server/views.py`).

A package only so an installed wheel carries the `*.html` files (package data) and the server finds them
with `importlib.resources`. A page names the tools it renders and calls, as a workflow prompt does; it talks
only to its host (JSON-RPC over postMessage), never to the server or a vendor directly.
"""
