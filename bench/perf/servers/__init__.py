"""Baseline servers of the triochat wire protocol, written for the benchmark only."""
