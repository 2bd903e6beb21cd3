"""Helpers for reading what a contract case got back."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def violations(error: grpc.RpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations an error carries, field → description."""
    status = rpc_status.from_call(error)
    found: dict[str, str] = {}
    for detail in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.update({v.field: v.description for v in bad_request.field_violations})
    return found
