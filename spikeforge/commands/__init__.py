"""One module per ``spikeforge`` sub-command; each exposes ``register(subparsers)``."""
