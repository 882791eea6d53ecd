"""The ``run`` flags: one per setting of the schema (secrets excepted; lists by a repeatable flag)."""

from __future__ import annotations

import argparse

from .convert import boolean, boolean_or_auto
from .schema import BY_NAME, DEFAULT_CONFIG_PATH, FLAGS, SCHEMA
from .sections import DEFAULT_TRUSTED_KEYS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``run`` flags, one per setting of the schema (secrets excepted)."""
    p.add_argument("--config", help=f"TOML config file (default {DEFAULT_CONFIG_PATH} if it exists; "
                                     f"env EDGE_LRCN_CONFIG)")
    for s in SCHEMA:
        if not s.flag or s.name in FLAGS:
            continue
        flag = "--" + s.name.replace("_", "-")
        if s.conv is boolean_or_auto:
            p.add_argument(flag, dest=s.name, nargs="?", const=True, default=None, metavar="auto|true|false",
                           help=s.help)
            p.add_argument("--no-" + s.name.replace("_", "-"), dest=s.name, action="store_false", default=None,
                           help=f"turn {flag} off")
        elif s.conv is boolean:
            p.add_argument(flag, dest=s.name, action="store_true", default=None, help=s.help)
            p.add_argument("--no-" + s.name.replace("_", "-"), dest=s.name, action="store_false", default=None,
                           help=f"turn {flag} off")
        else:
            p.add_argument(flag, dest=s.name, default=None, help=s.help)
    p.add_argument("--sink", dest="sinks", action="append", default=None,
                   help="stdout (default) or mqtt[s]://[user@]host[:port]; repeatable")
    p.add_argument("--trusted-key", dest="trusted_keys", action="append", default=None,
                   help=f"{BY_NAME['trusted_keys'].help} (default {DEFAULT_TRUSTED_KEYS}/*.pub)")
    p.add_argument("--region", dest="regions", action="append", default=None, metavar="NAME:x0,y0,x1,y1",
                   help="a named rectangle of the frame (0-1), classified as its own stream; repeatable "
                        "(env EDGE_LRCN_REGIONS: a JSON list of {name, box})")
