"""``spikeforge train``: train the deep TTFS network (golden model) with STDP and pruning."""

from __future__ import annotations

from ._common import add_config_arguments, config_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train the network golden model with STDP and in-learning pruning",
        description="Train the deep convolutional TTFS network layer by layer with STDP "
                    "(pruning connections while it learns), fit a linear SVM readout and "
                    "evaluate; count synaptic operations and STDP updates per layer and phase.")
    p.add_argument("--dataset", default="digits", metavar="NAME",
                   help="digits (bundled, default), mnist or caltech")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="folder with the MNIST IDX files or the Caltech LearningSet/"
                        "TrainingSet/TestingSet folders")
    prune = p.add_mutually_exclusive_group()
    prune.add_argument("--prune-threshold", type=float, default=0.3, metavar="X",
                       dest="theta_p", help="pruning threshold theta_p in [0, 1) (default 0.3)")
    prune.add_argument("--no-prune", action="store_true", help="train without pruning")
    p.add_argument("--prune-start", type=int, default=0, metavar="N",
                   help="apply the pruning rule in a layer after it has learned N images "
                        "(default 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", metavar="FILE", default=None, help="write the report as JSON")
    p.add_argument("--compare", action="store_true",
                   help="also train without pruning from the same seed and report the "
                        "reductions and speed-ups")
    p.add_argument("--sweep", action="store_true",
                   help="sweep theta_p, weight_bits and time_steps; writes "
                        "sweep_<dataset>.json and .png into -o DIR")
    p.add_argument("--sweep-kinds", default="theta,weight_bits,time_steps", metavar="LIST",
                   help="comma-separated subset of theta,weight_bits,time_steps")
    p.add_argument("--fixed-point", action="store_true",
                   help="integer weights/potentials/rates with the core's arithmetic "
                        "(widths from --config/--set: weight_bits, potential_bits, "
                        "rate_frac_bits)")
    p.add_argument("--learn-images", type=int, default=None, metavar="N",
                   help="at most N learning images per layer (default: the preset's)")
    p.add_argument("--max-images", type=int, default=None, metavar="N",
                   help="use at most N images of each set (quick runs)")
    p.add_argument("--image-size", type=int, default=None, metavar="N",
                   help="digits only: upscale the 8x8 digits to NxN (default 16)")
    p.add_argument("-j", "--jobs", type=int, default=2, metavar="N",
                   help="independent runs (--compare, --sweep) in parallel on up to N cores "
                        "(default 2)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("-o", "--out-dir", default=".", metavar="DIR",
                   help="folder for sweep outputs (default: current folder)")
    p.add_argument("-q", "--quiet", action="store_true", help="no tables or progress bars")
    add_config_arguments(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from spikeforge.golden.experiment import TrainOptions, run_train

    opts = TrainOptions(
        dataset=args.dataset, data_dir=args.data_dir, prune=not args.no_prune,
        theta_p=args.theta_p, prune_start=args.prune_start, seed=args.seed,
        json_path=args.json, compare=args.compare, sweep=args.sweep,
        sweep_kinds=tuple(k.strip() for k in args.sweep_kinds.split(",") if k.strip()),
        fixed_point=args.fixed_point, core_config=config_from_args(args), force=args.force,
        out_dir=args.out_dir, learn_images=args.learn_images, max_images=args.max_images,
        image_size=args.image_size, quiet=args.quiet, progress=not args.quiet,
        workers=args.jobs)
    return run_train(opts)
