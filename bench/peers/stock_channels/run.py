"""Start the stock Channels peer on daphne.

    python bench/peers/stock_channels/run.py --port 9001   # REDIS_URL set: pub/sub layer

The tutorial consumer with the in-memory layer, or channels-redis's
RedisPubSubChannelLayer when REDIS_URL is set.
"""

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    os.environ["DJANGO_SETTINGS_MODULE"] = "stock_site.settings"
    import django

    django.setup()
    from daphne.cli import CommandLineInterface

    layer = "pubsub" if os.environ.get("REDIS_URL") else "in-memory"
    print(f"stock_channels ({layer} layer) on {args.host}:{args.port}", flush=True)
    # Twisted's default listen backlog is 50: a burst of handshakes would wait on SYN
    # retransmits (1 s) and measure the kernel, not Channels. Same backlog as the others.
    endpoint = f"tcp:port={args.port}:interface={args.host}:backlog=4096"
    CommandLineInterface().run(["-e", endpoint, "stock_site.asgi:application"])


if __name__ == "__main__":
    main()
