"""`polytraders-gov demo`: a simulated fleet that fills every console page with real numbers."""
