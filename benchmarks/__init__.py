"""`make bench`: every figure beside the ceiling it is measured against, in the same run."""
