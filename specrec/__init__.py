"""specrec: declarative Bayesian recommender models on NumPyro, PyMC and Pyro."""
