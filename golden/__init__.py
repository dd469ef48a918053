"""spikeforge.golden."""
