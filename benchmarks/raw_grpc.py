"""gRPC's own ceiling: a generic handler that takes the request bytes and answers nothing."""

from __future__ import annotations

import asyncio

import grpc


async def _put(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return b""


async def main() -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 << 20)])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "bench.Raw", {"Put": grpc.unary_unary_rpc_method_handler(_put)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"raw gRPC on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
