"""The provider's side of benchmarks/ipn_latency.py, in its own process (as NOWPayments is):
reads JSON lines {"id", "body", "sig"} from stdin, POSTs them at a steady rate (to the URL
given, or with "-" to each line's own "url": several workers), and prints
one JSON line per IPN: {"id", "sent", "ack", "status"} (`time.monotonic()` seconds, which is
the same clock in every process of this machine)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def main(url: str, rate: float) -> None:
    items = [json.loads(line) for line in sys.stdin if line.strip()]
    results = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=500)) as http:

        async def post(item: dict) -> None:
            sent = time.monotonic()
            async with http.post(
                item["url"] if url == "-" else url,
                data=item["body"].encode(),
                headers={
                    "content-type": "application/json",
                    "x-nowpayments-sig": item["sig"],
                },
            ) as response:
                await response.read()
            results.append(
                {
                    "id": item["id"],
                    "sent": sent,
                    "ack": time.monotonic() - sent,
                    "status": response.status,
                }
            )

        begin = time.monotonic()
        tasks = []
        for n, item in enumerate(items):
            delay = begin + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(item)))
        await asyncio.gather(*tasks)
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
