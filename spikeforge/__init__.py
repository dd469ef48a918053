"""spikeforge: TTFS SNN hardware generator with on-chip STDP and in-learning pruning."""
__version__ = "0.1.0"
