"""Schemathesis hooks for the KAS run.

AttachmentService.yaml declares `Content-Length` as a header parameter of addMailData. A
generated value frames the request wrongly (negative, or not the body's length), and the HTTP
layer refuses such a request before any KAS logic sees it. The HTTP client computes the header
from the body, as every real client does; everything else is generated.
"""
import schemathesis


@schemathesis.hook
def map_headers(context, headers):
    if headers:
        for name in [h for h in headers if h.lower() == "content-length"]:
            del headers[name]
    return headers
