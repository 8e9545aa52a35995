"""The command line: `triochat serve` and `triochat connect`. Owns argv, signals, stdout."""
