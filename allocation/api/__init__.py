"""REST API v1 for source systems and agents (DESIGN.md, "REST API v1").

One view per operation; each validates the request's shape with its input serializer,
calls one service or selector, and renders with an output serializer. Business rules
and their errors come from the services (mapped to 4xx by core.api.exception_handler).

By sub-domain: `items` (intake, list, detail, customer journey), `actions` (what can be
done to an item), `agent` (the calling agent); `common` holds what they share.
"""
