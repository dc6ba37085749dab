"""What runs the business on the OR library: allocation, checkout, simulation."""
