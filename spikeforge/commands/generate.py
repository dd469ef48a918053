"""``spikeforge generate``: write the core's Verilog and the config it was made from."""

from __future__ import annotations

from ._common import add_config_arguments, config_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate the TTFS core's Verilog",
        description="Generate the Verilog of the TTFS layer core for a config and write it, "
                    "with the config.toml it was generated from, into a directory.")
    add_config_arguments(parser)
    parser.add_argument("-o", "--output", metavar="DIR", required=True,
                        help="output directory (created if missing)")
    parser.add_argument("--name", default="ttfs_core",
                        help="top module name and file stem (default: ttfs_core)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing output files")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = config_from_args(args)
    from ..hw.export import write_generated

    paths = write_generated(cfg, args.output, force=args.force, name=args.name)
    print(f"wrote {paths['verilog']} ({cfg.n_inputs} inputs x {cfg.n_neurons} neurons, "
          f"{cfg.lanes} lanes, pruning {'on' if cfg.pruning else 'off'})")
    print(f"wrote {paths['config']}")
    return 0
