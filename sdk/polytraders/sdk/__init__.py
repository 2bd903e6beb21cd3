"""What Polytraders bots import to reach governance."""
