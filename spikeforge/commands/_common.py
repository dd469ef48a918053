"""Argument helpers shared by commands."""

from __future__ import annotations

from ..config import CoreConfig, load_config


def add_config_arguments(parser) -> None:
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="TOML config (default: the embedded default config)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        dest="overrides", help="override one config value (repeatable)")


def config_from_args(args) -> CoreConfig:
    return load_config(args.config, args.overrides)
