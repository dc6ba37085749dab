"""Day allocation in micro-batches, with bid prices and rerouting."""
