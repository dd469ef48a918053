"""spikeforge.hw."""
