"""A whole simulated day: checkouts, live capacity, allocation, report."""
