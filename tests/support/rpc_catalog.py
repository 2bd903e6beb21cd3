"""Every RPC of every governance service, read off the generated modules: a service added to
`proto/` is covered by every test that walks this list, without being named in it."""

from __future__ import annotations

import importlib
import pkgutil

from google.protobuf.descriptor import MethodDescriptor

from polytraders.governance import v1 as governance_v1


def governance_methods() -> list[MethodDescriptor]:
    modules = [
        importlib.import_module(f"{governance_v1.__name__}.{found.name}")
        for found in pkgutil.iter_modules(governance_v1.__path__)
        if found.name.endswith("_pb2")
    ]
    found = [
        method
        for module in modules
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]
    return sorted(found, key=lambda m: m.full_name)
