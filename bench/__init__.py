"""relay's benchmarks (`make bench`): each measures relay beside a reference in the same run."""
