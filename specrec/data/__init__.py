"""Loading, splitting, fetching and simulating rating data."""
